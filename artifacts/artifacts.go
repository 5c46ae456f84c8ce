// Package artifacts finds a generator's artifact units: units whose
// ablation makes the images more realistic (GAN Dissection, Bau et al. 2018,
// §4.2). Realism is measured two ways over the same sample images: the
// model's discriminator (mean score change, paired per image) and FID on the
// segmenter's features against real renders (docs/model-format.md). The
// ranking is stored next to the dissection; the painter's "repair
// artifacts" toggle ablates its top units, and Rank measures the FID before
// and after that repair on held-out images.
package artifacts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ganpaint-go/ganpaint/dissection"
	"github.com/ganpaint-go/ganpaint/fid"
	"github.com/ganpaint-go/ganpaint/inference"
)

// Model is what ranking needs from the generator.
type Model interface {
	Manifest() inference.Manifest
	Layer(name string) (inference.LayerInfo, error)
	ZBatch(ids []int64) ([]float32, error)
	Head(ctx context.Context, layer string, zs []float32, n int) (*inference.Features, error)
	Tail(ctx context.Context, f *inference.Features) (*inference.Images, error)
	Discriminate(ctx context.Context, imgs *inference.Images) ([]float32, error)
	SegmentFeatures(ctx context.Context, imgs *inference.Images) ([]uint8, []float32, error)
	FeatureDim() int
}

// Rankings stored in the file.
const (
	// ByDiscriminator sorts units by the rise of the mean discriminator
	// score when the unit is ablated, largest first.
	ByDiscriminator = "discriminator"
	// ByFID sorts units by the fall of FID when the unit is ablated,
	// largest first.
	ByFID = "fid"
)

// Config is one ranking run. Zero fields take the documented defaults.
type Config struct {
	Layer string
	// Samples is the number of images each unit is ablated on. Default 48.
	Samples int
	// Holdout is the number of other images the repair is measured on.
	// Default 200.
	Holdout int
	// Seed draws the image ids (dissection.SampleIDs: the first Samples for
	// the ranking, the next Holdout for the repair). Default 3, so the ids
	// differ from a dissection's (seed 0).
	Seed int64
	// Ks are the repair sizes measured on the held-out images. Default
	// 5, 10, 20 (clamped to the layer's units).
	Ks []int
	// RepairK is the number of top units the painter's toggle ablates.
	// Default 10.
	RepairK int
	// RepairRanking is the ranking whose top units the toggle ablates:
	// ByFID when FID is measured, else ByDiscriminator (default). On the
	// default model the FID ranking's repair lowered held-out FID while the
	// discriminator ranking's raised it beyond 5 units (docs/dissection-format.md).
	RepairRanking string
	// Batch is the number of images per generator call. Default 16.
	Batch int
	// Reference: FID reference statistics; nil ranks by the discriminator
	// alone.
	Reference *fid.Stats
	// Progress, when set, receives a line every few units.
	Progress io.Writer
}

// ErrNothingToMeasure: the model has neither a discriminator nor FID.
var ErrNothingToMeasure = errors.New("artifacts: the model has no discriminator and no FID reference; nothing measures realism")

func (c Config) withDefaults(channels int) (Config, error) {
	if c.Samples == 0 {
		c.Samples = 48
	}
	if c.Holdout == 0 {
		c.Holdout = 200
	}
	if c.Seed == 0 {
		c.Seed = 3
	}
	if len(c.Ks) == 0 {
		c.Ks = []int{5, 10, 20}
	}
	if c.RepairK == 0 {
		c.RepairK = 10
	}
	if c.Batch == 0 {
		c.Batch = 16
	}
	if c.Samples < 2 || c.Holdout < 2 || c.Batch < 1 || c.Batch > inference.MaxBatch {
		return c, fmt.Errorf("artifacts: samples (%d) and holdout (%d) must be ≥ 2, batch (%d) in 1..%d",
			c.Samples, c.Holdout, c.Batch, inference.MaxBatch)
	}
	ks := []int{}
	for _, k := range c.Ks {
		if k < 1 {
			return c, fmt.Errorf("artifacts: repair size %d must be ≥ 1", k)
		}
		if k = min(k, channels); !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	c.Ks = ks
	if c.RepairK < 1 {
		return c, fmt.Errorf("artifacts: repair size %d must be ≥ 1", c.RepairK)
	}
	c.RepairK = min(c.RepairK, channels)
	return c, nil
}

// Rank ablates every unit of cfg.Layer on cfg.Samples images and measures
// the change of realism; then measures the repair (ablating the top units)
// on cfg.Holdout other images.
func Rank(ctx context.Context, m Model, cfg Config) (*Result, error) {
	li, err := m.Layer(cfg.Layer)
	if err != nil {
		return nil, err
	}
	if cfg, err = cfg.withDefaults(li.Channels); err != nil {
		return nil, err
	}
	man := m.Manifest()
	if cfg.Reference != nil && cfg.Reference.Dim() != m.FeatureDim() {
		return nil, fmt.Errorf("artifacts: reference has %d features, the segmenter %d", cfg.Reference.Dim(), m.FeatureDim())
	}
	ids, err := dissection.SampleIDs(cfg.Seed, cfg.Samples+cfg.Holdout, man.Z.MaxID)
	if err != nil {
		return nil, err
	}
	ev := &evaluator{m: m, li: li, batch: cfg.Batch, ref: cfg.Reference, useFID: cfg.Reference != nil}
	start := time.Now()
	rank, err := ev.headOf(ctx, ids[:cfg.Samples])
	if err != nil {
		return nil, err
	}
	base, err := ev.measure(ctx, rank, nil)
	if err != nil {
		return nil, err
	}
	if !ev.useDisc && !ev.useFID {
		return nil, ErrNothingToMeasure
	}
	switch cfg.RepairRanking {
	case "":
		cfg.RepairRanking = ByDiscriminator
		if ev.useFID {
			cfg.RepairRanking = ByFID
		}
	case ByFID, ByDiscriminator:
		if (cfg.RepairRanking == ByFID && !ev.useFID) || (cfg.RepairRanking == ByDiscriminator && !ev.useDisc) {
			return nil, fmt.Errorf("artifacts: repair ranking %q cannot be measured for this model", cfg.RepairRanking)
		}
	default:
		return nil, fmt.Errorf("artifacts: repair ranking %q: want %s or %s", cfg.RepairRanking, ByFID, ByDiscriminator)
	}
	r := &Result{
		SchemaVersion: SchemaVersion, Model: man.Name, Layer: li.Name, Samples: cfg.Samples, Holdout: cfg.Holdout,
		Seed: cfg.Seed, Discriminator: ev.useDisc, FIDMeasured: ev.useFID, RepairK: cfg.RepairK,
		RepairRanking: cfg.RepairRanking, Baseline: Score{Disc: base.disc, FID: base.fid},
		Rankings: map[string][]int{},
	}
	if cfg.Reference != nil {
		r.ReferenceN = cfg.Reference.N
	}
	for u := 0; u < li.Channels; u++ {
		s, err := ev.measure(ctx, rank, []int{u})
		if err != nil {
			return nil, err
		}
		us := UnitScore{Unit: u}
		if ev.useDisc {
			us.DiscDelta = s.disc - base.disc
		}
		if ev.useFID {
			us.FID = s.fid
			us.FIDDelta = s.fid - base.fid
		}
		r.Units = append(r.Units, us)
		if cfg.Progress != nil && ((u+1)%16 == 0 || u+1 == li.Channels) {
			el := time.Since(start)
			fmt.Fprintf(cfg.Progress, "%d/%d units, %s, about %s left\n", u+1, li.Channels, el.Round(time.Second),
				(el / time.Duration(u+1) * time.Duration(li.Channels-u-1)).Round(time.Second))
		}
	}
	r.sortRankings()

	// The repair, measured on held-out images.
	hold, err := ev.headOf(ctx, ids[cfg.Samples:])
	if err != nil {
		return nil, err
	}
	hb, err := ev.measure(ctx, hold, nil)
	if err != nil {
		return nil, err
	}
	ks := slices.Clone(cfg.Ks)
	if !slices.Contains(ks, cfg.RepairK) {
		ks = append(ks, cfg.RepairK)
	}
	slices.Sort(ks)
	for _, name := range r.rankingNames() {
		for _, k := range ks {
			units := r.Rankings[name][:k]
			s, err := ev.measure(ctx, hold, units)
			if err != nil {
				return nil, err
			}
			r.Repair = append(r.Repair, RepairScore{Ranking: name, K: k, Units: slices.Clone(units),
				Before: Score{Disc: hb.disc, FID: hb.fid}, After: Score{Disc: s.disc, FID: s.fid}})
		}
	}
	r.Seconds = time.Since(start).Seconds()
	return r, nil
}

// evaluator measures realism of a set of images with some units ablated.
type evaluator struct {
	m       Model
	li      inference.LayerInfo
	batch   int
	ref     *fid.Stats
	useDisc bool
	useFID  bool
	checked bool
}

type score struct{ disc, fid float64 }

// headOf runs the generator's head for ids (kept in memory: one layer's
// activations per image).
func (ev *evaluator) headOf(ctx context.Context, ids []int64) (*inference.Features, error) {
	zs, err := ev.m.ZBatch(ids)
	if err != nil {
		return nil, err
	}
	all := &inference.Features{Layer: ev.li, N: len(ids), Data: make([]float32, 0, len(ids)*ev.li.Size())}
	zsize := len(zs) / len(ids)
	for s := 0; s < len(ids); s += ev.batch {
		e := min(s+ev.batch, len(ids))
		f, err := ev.m.Head(ctx, ev.li.Name, zs[s*zsize:e*zsize], e-s)
		if err != nil {
			return nil, err
		}
		all.Data = append(all.Data, f.Data...)
	}
	return all, nil
}

// measure ablates units (set to 0 at every cell) in every image of feats and
// returns the mean discriminator score and the FID of the results.
func (ev *evaluator) measure(ctx context.Context, feats *inference.Features, units []int) (score, error) {
	size := ev.li.Size()
	plane := ev.li.Height * ev.li.Width
	var discSum float64
	var fv []float32
	buf := &inference.Features{Layer: ev.li}
	for s := 0; s < feats.N; s += ev.batch {
		e := min(s+ev.batch, feats.N)
		buf.N = e - s
		buf.Data = append(buf.Data[:0], feats.Data[s*size:e*size]...)
		for n := 0; n < buf.N; n++ {
			for _, u := range units {
				clear(buf.Data[n*size+u*plane : n*size+(u+1)*plane])
			}
		}
		imgs, err := ev.m.Tail(ctx, buf)
		if err != nil {
			return score{}, err
		}
		if !ev.checked || ev.useDisc {
			d, err := ev.m.Discriminate(ctx, imgs)
			switch {
			case errors.Is(err, inference.ErrNoDiscriminator) && !ev.checked:
			case err != nil:
				return score{}, err
			default:
				ev.useDisc = true
				for _, v := range d {
					discSum += float64(v)
				}
			}
		}
		if ev.useFID {
			_, f, err := ev.m.SegmentFeatures(ctx, imgs)
			if err != nil {
				return score{}, err
			}
			fv = append(fv, f...)
		}
		ev.checked = true
	}
	sc := score{disc: discSum / float64(feats.N)}
	if ev.useFID {
		st, err := fid.Compute(fv, ev.m.FeatureDim())
		if err != nil {
			return score{}, err
		}
		if sc.fid, err = fid.Distance(st, *ev.ref); err != nil {
			return score{}, err
		}
	}
	return sc, nil
}
