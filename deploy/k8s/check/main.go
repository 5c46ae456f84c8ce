// Command check validates this project's Kubernetes manifests without a
// cluster: every document is decoded strictly into the Kubernetes API's own
// Go types (unknown or misspelt fields, wrong types and bad quantities are
// errors), then checked for what the painter needs: probes, resources,
// non-root, and selectors and references that point at something.
//
// Usage: go run . FILE.yaml...
package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	pdbs        []*policyv1.PodDisruptionBudget
	jobs        []*batchv1.Job
	pvcs        []*corev1.PersistentVolumeClaim
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check FILE.yaml...")
		os.Exit(2)
	}
	var m manifests
	var errs []string
	for _, file := range os.Args[1:] {
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		for i, doc := range splitDocs(data) {
			if err := m.add(doc); err != nil {
				errs = append(errs, fmt.Sprintf("%s (document %d): %v", file, i+1, err))
			}
		}
	}
	errs = append(errs, m.check()...)
	if len(errs) > 0 {
		for _, e := range errs {
			fmt.Fprintln(os.Stderr, "k8s check:", e)
		}
		os.Exit(1)
	}
	fmt.Printf("k8s check: %d deployments, %d services, %d autoscalers, %d disruption budgets, %d jobs, %d claims ok\n",
		len(m.deployments), len(m.services), len(m.hpas), len(m.pdbs), len(m.jobs), len(m.pvcs))
}

var docSep = regexp.MustCompile(`(?m)^---\s*$`)

func splitDocs(data []byte) [][]byte {
	var out [][]byte
	for _, d := range docSep.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(d)) != "" {
			out = append(out, []byte(d))
		}
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// strict decodes doc into v, refusing unknown and duplicate fields.
func strict(doc []byte, v any) error {
	return yaml.UnmarshalStrict(doc, v)
}

func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj interface{ GetName() string }
	var keep func()
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		obj = d
		keep = func() { m.deployments = append(m.deployments, d) }
	case "v1 Service":
		s := &corev1.Service{}
		obj = s
		keep = func() { m.services = append(m.services, s) }
	case "autoscaling/v2 HorizontalPodAutoscaler":
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		obj = h
		keep = func() { m.hpas = append(m.hpas, h) }
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		obj = p
		keep = func() { m.pdbs = append(m.pdbs, p) }
	case "batch/v1 Job":
		j := &batchv1.Job{}
		obj = j
		keep = func() { m.jobs = append(m.jobs, j) }
	case "v1 PersistentVolumeClaim":
		c := &corev1.PersistentVolumeClaim{}
		obj = c
		keep = func() { m.pvcs = append(m.pvcs, c) }
	default:
		return fmt.Errorf("unexpected kind %q of %q", tm.Kind, tm.APIVersion)
	}
	if err := strict(doc, obj); err != nil {
		return fmt.Errorf("%s: %v", tm.Kind, err)
	}
	keep()
	if errs := validation.IsDNS1123Subdomain(obj.GetName()); len(errs) > 0 {
		return fmt.Errorf("%s name %q: %s", tm.Kind, obj.GetName(), strings.Join(errs, "; "))
	}
	return nil
}

func (m *manifests) check() []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	podLabels := map[string]labels.Set{}
	for _, d := range m.deployments {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || d.Spec.Selector == nil {
			fail("deployment %s: bad selector: %v", d.Name, err)
			continue
		}
		set := labels.Set(d.Spec.Template.Labels)
		if !sel.Matches(set) {
			fail("deployment %s: selector does not match the pod template's labels", d.Name)
		}
		podLabels[d.Name] = set
		errs = append(errs, checkPod("deployment "+d.Name, d.Spec.Template.Spec, true)...)
	}
	for _, j := range m.jobs {
		errs = append(errs, checkPod("job "+j.Name, j.Spec.Template.Spec, false)...)
		if j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == batchv1.IndexedCompletion &&
			(j.Spec.Completions == nil || *j.Spec.Completions < 1) {
			fail("job %s: an Indexed job needs completions", j.Name)
		}
		for _, v := range j.Spec.Template.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && !m.hasPVC(v.PersistentVolumeClaim.ClaimName) {
				fail("job %s: claim %q is not defined", j.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
	}
	matchesPods := func(sel labels.Selector) bool {
		for _, set := range podLabels {
			if sel.Matches(set) {
				return true
			}
		}
		return false
	}
	for _, s := range m.services {
		if len(s.Spec.Selector) == 0 || !matchesPods(labels.SelectorFromSet(s.Spec.Selector)) {
			fail("service %s: selector matches no deployment's pods", s.Name)
		}
	}
	for _, p := range m.pdbs {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || p.Spec.Selector == nil || !matchesPods(sel) {
			fail("disruption budget %s: selector matches no deployment's pods", p.Name)
		}
	}
	for _, h := range m.hpas {
		ref := h.Spec.ScaleTargetRef
		if _, ok := podLabels[ref.Name]; ref.Kind != "Deployment" || !ok {
			fail("autoscaler %s: target %s %q is not defined here", h.Name, ref.Kind, ref.Name)
		}
		if h.Spec.MinReplicas != nil && *h.Spec.MinReplicas > h.Spec.MaxReplicas {
			fail("autoscaler %s: minReplicas above maxReplicas", h.Name)
		}
	}
	return errs
}

func (m *manifests) hasPVC(name string) bool {
	for _, c := range m.pvcs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// checkPod wants non-root, resource requests and, for servers, probes on
// declared ports.
func checkPod(what string, spec corev1.PodSpec, server bool) []string {
	var errs []string
	fail := func(format string, args ...any) { errs = append(errs, what+": "+fmt.Sprintf(format, args...)) }
	if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		fail("pod securityContext.runAsNonRoot must be true")
	}
	if len(spec.Containers) == 0 {
		fail("no containers")
	}
	for _, c := range spec.Containers {
		if c.Image == "" || strings.HasSuffix(c.Image, ":latest") || !strings.Contains(c.Image, ":") {
			fail("container %s: image %q needs a fixed tag", c.Name, c.Image)
		}
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			fail("container %s: no cpu request", c.Name)
		}
		if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
			fail("container %s: no memory limit", c.Name)
		}
		if c.SecurityContext == nil || c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation {
			fail("container %s: allowPrivilegeEscalation must be false", c.Name)
		}
		if !server {
			continue
		}
		ports := map[string]bool{}
		for _, p := range c.Ports {
			ports[p.Name] = true
			ports[fmt.Sprint(p.ContainerPort)] = true
		}
		for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
			if p == nil || p.HTTPGet == nil {
				fail("container %s: no HTTP %s probe", c.Name, name)
				continue
			}
			if !ports[p.HTTPGet.Port.String()] {
				fail("container %s: %s probe port %s is not a container port", c.Name, name, p.HTTPGet.Port.String())
			}
		}
	}
	return errs
}
