package efficacy

// ReportVersion is the schema version of efficacy.json (docs/efficacy.md).
const ReportVersion = 1

// Report is efficacy.json: what every brush of a model does, measured.
type Report struct {
	SchemaVersion int      `json:"schema_version"`
	Model         string   `json:"model"`
	Settings      Settings `json:"settings"`
	IDs           []int64  `json:"ids"`
	// Concepts holds the measurements, one entry per concept.
	Concepts []ConceptResult `json:"concepts"`
	// Brushes is what the painter uses per concept, chosen from Concepts
	// (Choose). Absent in a report nothing was chosen from.
	Brushes map[string]Choice `json:"brushes,omitempty"`
	// Calibration holds the strength steps found per brush (Calibrate).
	Calibration map[string]Calibrated `json:"calibration,omitempty"`
	Probes      int                   `json:"probes"`
	Seconds     float64               `json:"seconds"`
	// Load is the machine's 1-minute load average at the start and the end
	// of the run, when known (the timing depends on it).
	Load []float64 `json:"load,omitempty"`
	// CPUs is the number of CPUs the run could use.
	CPUs int `json:"cpus,omitempty"`
}

// Settings records how the numbers were measured.
type Settings struct {
	Images        int               `json:"images"`
	IDRange       [2]float64        `json:"id_range"` // fractions of max_id
	Excluded      int               `json:"excluded"` // ids skipped (the dissection's)
	Side          int               `json:"side"`
	RegionPx      [2]int            `json:"region_px"` // width, height of a region
	RingPx        int               `json:"ring_px"`
	Plausible     int               `json:"plausible"`
	Other         int               `json:"other"`
	Present       int               `json:"present"`
	Everywhere    int               `json:"everywhere"`
	MinImageShare float64           `json:"min_image_share"`
	SuccessShare  float64           `json:"success_share"`
	SuccessRise   float64           `json:"success_rise"`
	EligibleBelow float64           `json:"eligible_below"`
	PresentFrom   float64           `json:"present_from"`
	Seed          uint64            `json:"seed"`
	Rules         map[string]string `json:"rules"`
}

func settingsOf(c Config, region Rect, ringPx int) Settings {
	rules := map[string]string{}
	for _, r := range Rules {
		rules[r.Concept] = r.Text
	}
	return Settings{Images: c.Images, IDRange: [2]float64{c.IDFrom, c.IDTo}, Excluded: len(c.Exclude), Side: c.Side,
		RegionPx: [2]int{region.X1 - region.X0, region.Y1 - region.Y0}, RingPx: ringPx,
		Plausible: c.Plausible, Other: c.Other, Present: c.Present, Everywhere: c.Everywhere, MinImageShare: c.MinImageShare,
		SuccessShare: SuccessShare, SuccessRise: SuccessRise, EligibleBelow: EligibleBelow, PresentFrom: PresentFrom,
		Seed: c.Seed, Rules: rules}
}

// ConceptResult is every brush of one concept at every step.
type ConceptResult struct {
	Concept string `json:"concept"`
	// Pool sizes: eligible regions (concept below EligibleBelow) where the
	// rule holds and where it does not, regions where the concept covers at
	// least PresentFrom, images showing it; and how many of each were used.
	PoolPlausible int            `json:"pool_plausible"`
	PoolOther     int            `json:"pool_other"`
	PoolPresent   int            `json:"pool_present"`
	PoolImages    int            `json:"pool_images"`
	UsedPlausible int            `json:"used_plausible"`
	UsedOther     int            `json:"used_other"`
	UsedPresent   int            `json:"used_present"`
	UsedImages    int            `json:"used_images"`
	Insert        []InsertResult `json:"insert,omitempty"`
	Remove        []RemoveResult `json:"remove,omitempty"`
}

// Row names a brush at one step.
type Row struct {
	Brush    string  `json:"brush"`
	Kind     string  `json:"kind"`
	Layer    string  `json:"layer"`
	Step     string  `json:"step"`
	Strength float32 `json:"strength"`
}

// InsertResult is one brush at one step painting into regions.
type InsertResult struct {
	Row
	// Success is the share of plausible regions where, after the stroke,
	// the concept covers ≥ SuccessShare of the region and rose by ≥ SuccessRise.
	Success float64 `json:"success"`
	// SuccessAll is the same over all eligible regions: the plausible and
	// other strata weighted by their sizes in the pool.
	SuccessAll float64 `json:"success_all"`
	// Rise is the mean rise of the concept's share inside plausible
	// regions; RiseAll over all eligible regions (weighted as SuccessAll).
	Rise    float64 `json:"rise"`
	RiseAll float64 `json:"rise_all"`
	// LeakNear is the share of pixels in the ring around the region (RingPx
	// wide) whose label changed; LeakFar the same for every pixel beyond it.
	// Both are averaged over all probed regions, weighted as SuccessAll.
	LeakNear float64 `json:"leak_near"`
	LeakFar  float64 `json:"leak_far"`
	// LeakNearOther is the part of LeakNear that changed to another class
	// than the painted one (the rest is the concept growing past the stroke).
	LeakNearOther float64 `json:"leak_near_other"`
	// Tiles (Config.Tiles) counts, per region of the tiling (row-major),
	// the regions tried there and the successes.
	Tiles []Tile `json:"tiles,omitempty"`
}

// Tile is one region of the tiling in a map of where painting works.
type Tile struct {
	Tried   int `json:"tried"`
	Success int `json:"success"`
}

// RemoveResult is one erasing brush at one step.
type RemoveResult struct {
	Row
	// In regions where the concept covered ≥ PresentFrom: mean relative
	// drop of its share inside the region, share of regions that lost at
	// least half of it, and label changes in the ring and beyond.
	RegionDrop float64 `json:"region_drop"`
	RegionHalf float64 `json:"region_half"`
	LeakNear   float64 `json:"leak_near"`
	LeakFar    float64 `json:"leak_far"`
	// Everywhere (whole-image mask) on images showing the concept: relative
	// drop of its pixels summed over the images, share of images losing at
	// least half of them, and share of the other pixels that changed label.
	Drop   float64 `json:"drop"`
	Half   float64 `json:"half"`
	Damage float64 `json:"damage"`
}

// Choice is the brush the painter uses for a concept and its steps.
type Choice struct {
	Add    *ChosenBrush `json:"add,omitempty"`
	Remove *ChosenBrush `json:"remove,omitempty"`
}

// ChosenBrush names a brush, its steps and the default step, with the
// measured effect of every step (shown on hover in the painter).
type ChosenBrush struct {
	Brush   string       `json:"brush"`
	Kind    string       `json:"kind"`
	Layer   string       `json:"layer"`
	Default string       `json:"default"`
	Steps   []StepEffect `json:"steps"`
}

// StepEffect is one step's strength and its measured effect: for insertion
// success (plausible regions), rise and leaks; for erasing the drops.
type StepEffect struct {
	Step
	Success  float64 `json:"success,omitempty"`
	Rise     float64 `json:"rise,omitempty"`
	LeakNear float64 `json:"leak_near,omitempty"`
	LeakFar  float64 `json:"leak_far,omitempty"`
	Drop     float64 `json:"drop,omitempty"`
	Half     float64 `json:"half,omitempty"`
	Damage   float64 `json:"damage,omitempty"`
}

// Calibrated are a brush's steps found by Calibrate, tied to the brush's
// fingerprint.
type Calibrated struct {
	Fingerprint string     `json:"fingerprint"`
	Steps       []Step     `json:"steps"`
	Default     string     `json:"default"`
	IDRange     [2]float64 `json:"id_range"`
	// The default step's effect (the key Choose ranks by) and whether its
	// leak was acceptable, on the calibration ids: Choose picks the
	// painter's brush from these, so the evaluation ids only measure it.
	// Absent in calibrations written before they were kept.
	Effect     *float64 `json:"effect,omitempty"`
	Acceptable bool     `json:"acceptable,omitempty"`
}
