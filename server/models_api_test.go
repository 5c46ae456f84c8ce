package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// echoAPI is a model's REST API that answers with its model and the body
// it got; limit is its body limit.
type echoAPI struct {
	name  string
	limit int64
}

func (a echoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "api of %s %s: %s", a.name, r.URL.Path, body)
}

func (a echoAPI) maxBodyBytes() int64 { return a.limit }

// TestAPIPostChoosesModelByBody: a POST to /api/ reaches the model whose
// project its JSON body names, with the body intact; the query still wins,
// an unknown project is a 404 naming the models, and the body is read
// only within the largest of the APIs' limits.
func TestAPIPostChoosesModelByBody(t *testing.T) {
	both := twoModelDeps()
	both.API = echoAPI{"fake64", 64}
	b := both.Models[0]
	b.API = echoAPI{"fakeB", 128}
	both.Models = []ModelDeps{b}
	withAPIs := httptest.NewServer(mustNew(t, both).Handler())
	defer withAPIs.Close()
	onlyA := httptest.NewServer(mustNew(t, twoModelDeps()).Handler())
	defer onlyA.Close()

	long := `{"project":"fakeB","ids":[` + strings.Repeat("1,", 45) + `1]}` // 110 bytes: over fake64's limit, within fakeB's
	for _, tc := range []struct {
		name   string
		ts     *httptest.Server
		path   string
		body   string
		status int
		want   string
	}{
		{"body names fakeB", withAPIs, "/api/generate", `{"project":"fakeB","ids":[1]}`, 200, `api of fakeB /api/generate: {"project":"fakeB","ids":[1]}`},
		{"body names fake64", withAPIs, "/api/features", `{"ids":[1],"project":"fake64"}`, 200, "api of fake64 /api/features"},
		{"no project: the default", withAPIs, "/api/generate", `{"ids":[1]}`, 200, `api of fake64 /api/generate: {"ids":[1]}`},
		{"not JSON: the default", withAPIs, "/api/generate", `project=fakeB`, 200, "api of fake64 /api/generate: project=fakeB"},
		{"project not a string: the default", withAPIs, "/api/generate", `{"project":["fakeB"]}`, 200, "api of fake64"},
		{"nested project is not it", withAPIs, "/api/generate", `{"x":{"project":"fakeB"}}`, 200, "api of fake64"},
		{"key case as the decoder reads it", withAPIs, "/api/generate", `{"Project":"fakeB"}`, 200, "api of fakeB"},
		{"last key wins as in the decoder", withAPIs, "/api/generate", `{"project":"fake64","project":"fakeB"}`, 200, "api of fakeB"},
		{"null keeps the earlier", withAPIs, "/api/generate", `{"project":"fakeB","project":null}`, 200, "api of fakeB"},
		{"query wins", withAPIs, "/api/generate?project=fake64", `{"project":"fakeB"}`, 200, "api of fake64"},
		{"?model= wins", withAPIs, "/api/generate?model=fake64", `{"project":"fakeB"}`, 200, "api of fake64"},
		{"model path", withAPIs, "/models/fakeB/api/generate", `{"project":"fakeB"}`, 200, "api of fakeB"},
		{"unknown project", withAPIs, "/api/generate", `{"project":"nosuch"}`, 404, `unknown project \"nosuch\" (this server has \"fake64\", \"fakeB\")`},
		{"over one limit, within the largest", withAPIs, "/api/generate", long, 200, "api of fakeB /api/generate: " + long},
		{"over every limit", withAPIs, "/api/generate", long + strings.Repeat(" ", 100), 413, "larger than 128 bytes"},
		{"model without an API", onlyA, "/api/generate", `{"project":"fakeB"}`, 404, `the model \"fakeB\" has no REST API`},
		{"GET is not read", withAPIs, "/api/layers", "", 200, "api of fake64 /api/layers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := http.MethodPost
			if tc.body == "" {
				method = http.MethodGet
			}
			req, err := http.NewRequest(method, tc.ts.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(got), tc.want) {
				t.Errorf("status %d body %.300s, want %d with %q", resp.StatusCode, got, tc.status, tc.want)
			}
		})
	}
}

// FuzzProjectOf: the project found in a body is the one the API's JSON
// decoder reads from it, and no body makes the scan fail.
func FuzzProjectOf(f *testing.F) {
	for _, s := range []string{`{"project":"a"}`, `{"Project":"a","project":"b"}`, `{"project":null}`,
		`{"x":[1,{"project":"n"}],"PROJECT":"c"}`, `[]`, `{"project":1}`, `{"project":"a"`, `{"ſroject":"k"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got := projectOf(body)
		var v struct {
			Project string `json:"project"`
		}
		if err := json.Unmarshal(body, &v); err == nil && got != v.Project {
			t.Errorf("projectOf(%q) = %q, the decoder reads %q", body, got, v.Project)
		}
	})
}

// TestAPICORSBeforeAModelIsChosen: on a server with two models, the /api
// routes' own answers (an unknown project, a body over the limit, an
// unknown model's prefix) carry the CORS headers an allowed origin gets
// from the API itself, and an answer from a model's API carries them once.
func TestAPICORSBeforeAModelIsChosen(t *testing.T) {
	const site = "https://course.example.edu"
	m, _ := newFakeRefModel()
	api, err := NewRefAPI(RefAPIConfig{CORSOrigins: []string{site}, MaxBodyBytes: 256, Logger: quietLogger()},
		RefAPIDeps{Model: m, Results: fakeRefResults(), UnitImageURL: unitImg})
	if err != nil {
		t.Fatal(err)
	}
	deps := twoModelDeps()
	deps.API = api
	b := deps.Models[0]
	b.API = echoAPI{"fakeB", 128}
	deps.Models = []ModelDeps{b}
	ts := httptest.NewServer(mustNew(t, deps).Handler())
	defer ts.Close()

	big := `{"project":"fakeB","ids":[` + strings.Repeat("1,", 200) + `1]}`
	for _, tc := range []struct {
		name, method, path, body string
		origin                   string
		status                   int
		allow                    string
	}{
		{"unknown project", "GET", "/api/layers?project=nosuch", "", site, 404, site},
		{"unknown project in the body", "POST", "/api/generate", `{"project":"nosuch","ids":[1]}`, site, 404, site},
		{"body over every limit", "POST", "/api/generate", big, site, 413, site},
		{"unknown model's prefix", "GET", "/models/nosuch/api/layers", "", site, 404, site},
		{"the API's own answer", "GET", "/api/layers?project=fake64", "", site, 200, site},
		{"another model's API", "GET", "/api/layers?project=fakeB", "", site, 200, site},
		{"preflight", "OPTIONS", "/api/generate", "", site, 204, site},
		{"other origin", "GET", "/api/layers?project=nosuch", "", "https://evil.example", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := apiCall(t, ts, tc.method, tc.path, "application/json", tc.body, map[string]string{
				"Origin": tc.origin, "Access-Control-Request-Method": "POST"})
			if a.status != tc.status || a.header.Get("Access-Control-Allow-Origin") != tc.allow {
				t.Errorf("%d, allow %q (%s); want %d, %q", a.status, a.header.Get("Access-Control-Allow-Origin"), a.body, tc.status, tc.allow)
			}
			if vary := a.header.Values("Vary"); len(vary) != 1 || vary[0] != "Origin" {
				t.Errorf("Vary %q, want Origin once", vary)
			}
		})
	}
}
