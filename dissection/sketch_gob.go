package dissection

import (
	"bytes"
	"encoding/gob"
	"fmt"
)

// sketchState is a Sketch's whole state, for shard part files.
type sketchState struct {
	K        int
	Levels   [][]float32
	Parity   []bool
	N        int64
	Min, Max float32
	Size     int
	Tail     []float32
	TailCap  int
}

// GobEncode lets a Sketch travel in a shard part file.
func (s *Sketch) GobEncode() ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(sketchState{K: s.k, Levels: s.levels, Parity: s.parity, N: s.n,
		Min: s.min, Max: s.max, Size: s.size, Tail: s.tail, TailCap: s.tailCap})
	return buf.Bytes(), err
}

// GobDecode restores a Sketch written by GobEncode, checking that its parts
// agree, since a part file comes from another process.
func (s *Sketch) GobDecode(b []byte) error {
	var st sketchState
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&st); err != nil {
		return err
	}
	size := 0
	for _, l := range st.Levels {
		size += len(l)
	}
	if st.K < 8 || len(st.Levels) == 0 || len(st.Parity) != len(st.Levels) || size != st.Size ||
		st.N < int64(size+len(st.Tail)) || len(st.Tail) > st.TailCap || st.TailCap < 0 {
		return fmt.Errorf("%w: inconsistent sketch", ErrBadPart)
	}
	*s = Sketch{k: st.K, levels: st.Levels, parity: st.Parity, n: st.N, min: st.Min, max: st.Max,
		size: st.Size, tail: st.Tail, tailCap: st.TailCap}
	s.limit = s.totalCapacity()
	return nil
}
