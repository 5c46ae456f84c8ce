package server

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/ganpaint-go/ganpaint/painting"
)

func testServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Logger = quietLogger()
	s, err := New(cfg, testDeps(detEngine(nil, 0)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// apply parses and applies one raw message like a session does.
func applyRaw(p *painter, raw string) (bool, *protoError) {
	m, _, err := parseMessage([]byte(raw))
	if err != nil {
		return false, err
	}
	return p.apply(m)
}

func TestHistoryIsBounded(t *testing.T) {
	s := testServer(t, Config{MaxHistory: 3})
	p := s.def.defaultPainter()
	for i := 1; i <= 6; i++ {
		if _, err := applyRaw(p, fmt.Sprintf(`{"t":"stroke","seq":%d,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[%d,1]]}`, i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.history) != 4 || len(p.edits()) != 6 {
		t.Fatalf("history %d snapshots, %d edits; want 4 and 6", len(p.history), len(p.edits()))
	}
	seq := 6
	for i := 0; i < 3; i++ {
		seq++
		if _, err := applyRaw(p, fmt.Sprintf(`{"t":"undo","seq":%d}`, seq)); err != nil {
			t.Fatalf("undo %d: %v", i, err)
		}
	}
	if len(p.edits()) != 3 {
		t.Errorf("after 3 undos %d edits, want 3", len(p.edits()))
	}
	seq++
	if _, err := applyRaw(p, fmt.Sprintf(`{"t":"undo","seq":%d}`, seq)); err == nil || err.Code != codeNothingUndo {
		t.Errorf("4th undo: %v, want nothing_to_undo (history is 3 deep)", err)
	}
	// A new stroke after undos drops the redo steps.
	seq++
	applyRaw(p, fmt.Sprintf(`{"t":"stroke","seq":%d,"concept":"sky","mode":"remove","units":1,"radius":1,"points":[[5,5]]}`, seq))
	if p.canRedo() || len(p.edits()) != 4 {
		t.Errorf("after new stroke: can redo %v, %d edits", p.canRedo(), len(p.edits()))
	}
}

func TestSnapshotsAreImmutable(t *testing.T) {
	s := testServer(t, Config{})
	p := s.def.defaultPainter()
	applyRaw(p, `{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[1,1]],"stroke":5}`)
	before := p.edits()
	first := before[0]
	mask := append([]float32(nil), first.mask...)
	applyRaw(p, `{"t":"stroke","seq":2,"concept":"tree","mode":"add","units":2,"radius":2,"points":[[60,60]],"stroke":5}`)
	if len(first.Points) != 1 || fmt.Sprint(first.mask) != fmt.Sprint(mask) {
		t.Error("continuing a stroke modified the edit a renderer may be reading")
	}
	if p.edits()[0] == first || len(p.edits()[0].Points) != 2 {
		t.Error("continuation did not produce a new, extended edit")
	}
}

// FuzzClientMessage feeds arbitrary text frames through parsing and
// application: nothing may panic, every rejection must carry a documented
// code, and the state must stay within its bounds.
func FuzzClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"t":"stroke","seq":1,"concept":"tree","mode":"add","units":15,"radius":6,"points":[[10,10],[20,30]]}`,
		`{"t":"stroke","seq":2,"concept":"sky","mode":"remove","units":1,"radius":1,"points":[[0,0]],"stroke":3}`,
		`{"t":"erase_all","seq":3,"concept":"door","units":3}`,
		`{"t":"stroke","seq":1,"mode":"add","radius":3,"points":[[1,1]],"custom":{"layer":"layer4","units":[3,1,31]}}`,
		`{"t":"erase_all","seq":2,"custom":{"layer":"layer4","units":[0]}}`,
		`{"t":"load","seq":4,"id":7,"layer":"layer2"}`,
		`{"t":"undo","seq":5}`, `{"t":"redo","seq":6}`, `{"t":"reset","seq":7}`, `{"t":"delete","seq":8,"edit":0}`,
		`{"t":"open","seq":9,"state":"AWJLS8xONTNhy0msTC0y0mJgAAQAAP__"}`, `{"t":"open","seq":10,"state":"garbage"}`,
		`{"t":"format","format":"png"}`, `{}`, `[]`, `null`, `{"t":"stroke","seq":1e9,"points":[[1e308,-1e308]]}`,
	} {
		f.Add(seed)
	}
	known := map[string]bool{codeBadJSON: true, codeBadMessage: true, codeBadSeq: true, codeUnknownConcept: true,
		codeUnknownLayer: true, codeOutOfRange: true, codeTooBig: true, codeNothingUndo: true, codeNothingRedo: true,
		codeBadState: true, codeUnknownModel: true}
	s := testServer(f, Config{MaxEdits: 5, MaxHistory: 4, MaxPoints: 16, MaxStrokePoints: 32})
	f.Fuzz(func(t *testing.T, raw string) {
		p := s.def.defaultPainter()
		// Apply the message a few times with rising seqs so that history,
		// continuation and limits are exercised, not just the first step.
		for i := 0; i < 4; i++ {
			m, _, perr := parseMessage([]byte(raw))
			if perr == nil {
				if m.Seq != nil {
					v := *m.Seq + float64(i)
					m.Seq = &v
				}
				_, perr = p.apply(m)
			}
			if perr != nil {
				if !known[perr.Code] || perr.Message == "" {
					t.Fatalf("undocumented error %+v", perr)
				}
				if _, err := json.Marshal(perr); err != nil {
					t.Fatal(err)
				}
			}
			if p.cur < 0 || p.cur >= len(p.history) || len(p.history) > s.cfg.MaxHistory+1 || len(p.edits()) > s.cfg.MaxEdits {
				t.Fatalf("state out of bounds: cur %d of %d, %d edits", p.cur, len(p.history), len(p.edits()))
			}
			if st := p.history[p.cur]; st.layer != p.layer || st.id != p.id {
				t.Fatalf("current image %s/%d, history says %s/%d", p.layer.info.Name, p.id, st.layer.info.Name, st.id)
			}
			for _, e := range p.edits() {
				if len(e.mask) != e.env.grid.cells() || len(e.Points) > s.cfg.MaxStrokePoints || len(e.unitList) != e.Summary().Units {
					t.Fatalf("bad edit %+v", e)
				}
			}
		}
	})
}

func TestStateStaysShareable(t *testing.T) {
	s := testServer(t, Config{MaxEdits: 1000, MaxPoints: 1024, MaxStrokePoints: 4096})
	p := s.def.defaultPainter()
	rng := uint64(12345)
	next := func() int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % 64
	}
	seq, rejected := 0, false
	for i := 0; i < 100 && !rejected; i++ {
		pts := make([][]int, 1024)
		for j := range pts {
			pts[j] = []int{next(), next()}
		}
		raw, _ := json.Marshal(map[string]any{"t": "stroke", "seq": seq + 1, "concept": "tree", "mode": "add",
			"units": 3, "radius": 2, "points": pts})
		seq++
		if _, err := applyRaw(p, string(raw)); err != nil {
			if err.Code != codeTooBig {
				t.Fatalf("stroke %d: %v", i, err)
			}
			rejected = true
		}
		tok, err := painting.EncodeState(shareOf(s.def.info.Name, p.layer, p.id, p.edits(), p.repair))
		if err != nil || len(tok) > painting.MaxTokenLen {
			t.Fatalf("after stroke %d the state is not shareable: %v (%d chars)", i, err, len(tok))
		}
	}
	if !rejected {
		t.Fatal("random strokes never hit the share size limit")
	}
}
