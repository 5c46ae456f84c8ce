package inference_test

import (
	"errors"
	"math"
	"testing"

	"github.com/ganpaint-go/ganpaint/inference"
)

// Expected bits were printed by training/zrule.py (the Python side of the
// contract), so this pins Go to the same numbers.
func TestZForIDMatchesPython(t *testing.T) {
	tests := []struct {
		id   int64
		seed uint64
		want []uint32
	}{
		{0, 0, []uint32{0xbe8ec8b2, 0xbf43a41c, 0x3ed67d6c, 0xbd896802, 0xbfa2ca0e, 0x3f89b03e, 0xc006ebda, 0xbf216393}},
		{1, 0, []uint32{0x3fa9af9e, 0x3eda86eb, 0x3e883cbd, 0x3c971ce6, 0x3d91e9ef, 0x3f630144, 0x3ed20643, 0xbef6876f}},
		{999999, 0, []uint32{0x3e2eecfd, 0xbff8df5c, 0xbec7578c, 0xbf374d8e}},
		{42, 12345678901234567890, []uint32{0x3fa2c379, 0x3fc78c7d, 0xbd9a686e, 0x3f13e7ee}},
	}
	for _, tt := range tests {
		z := make([]float32, len(tt.want))
		inference.ZForID(z, tt.id, tt.seed)
		for i, w := range tt.want {
			if got := math.Float32bits(z[i]); got != w {
				t.Errorf("id %d seed %d: z[%d] = %#x (%v), want %#x (%v)", tt.id, tt.seed, i, got, z[i], w, math.Float32frombits(w))
			}
		}
	}
	z := make([]float32, 128)
	inference.ZForID(z, 3, 0)
	var sum float64
	for _, v := range z {
		sum += float64(v)
	}
	if want := 0x1.206cebc008p+3; sum != want {
		t.Errorf("sum of z(3) size 128 = %v, python says %v", sum, want)
	}
}

func TestModelZRange(t *testing.T) {
	m := inference.BareModel(inference.Manifest{Z: inference.ZSpec{Size: 8, MaxID: 10}})
	for _, id := range []int64{-1, 10, math.MaxInt64} {
		if _, err := m.Z(id); !errors.Is(err, inference.ErrIDOutOfRange) {
			t.Errorf("Z(%d) error = %v, want ErrIDOutOfRange", id, err)
		}
	}
	z, err := m.Z(9)
	if err != nil || len(z) != 8 {
		t.Fatalf("Z(9) = %v, %v", z, err)
	}
	if err := m.ZInto(make([]float32, 7), 1); !errors.Is(err, inference.ErrBadShape) {
		t.Errorf("ZInto short buffer error = %v, want ErrBadShape", err)
	}
	zs, err := m.ZBatch([]int64{9, 1})
	if err != nil || len(zs) != 16 {
		t.Fatalf("ZBatch = %v, %v", zs, err)
	}
	for i := range z {
		if zs[i] != z[i] {
			t.Fatalf("ZBatch[0] differs from Z(9) at %d", i)
		}
	}
	if _, err := m.ZBatch([]int64{1, 11}); !errors.Is(err, inference.ErrIDOutOfRange) {
		t.Errorf("ZBatch out of range error = %v", err)
	}
}

// Nearby ids must not be shifted windows of one stream: with a bare id*gamma
// start, z(id+2j)[i] == z(id)[i+j].
func TestZForIDStreamsDoNotOverlap(t *testing.T) {
	const size = 64
	a, b := make([]float32, size), make([]float32, size)
	for id := int64(0); id < 8; id++ {
		inference.ZForID(a, id, 0)
		for other := id + 1; other < 16; other++ {
			inference.ZForID(b, other, 0)
			for shift := 0; shift < size/2; shift++ {
				if a[shift] == b[0] && a[shift+1] == b[1] && a[shift+2] == b[2] {
					t.Fatalf("z(%d) is z(%d) shifted by %d", other, id, shift)
				}
			}
		}
	}
}
