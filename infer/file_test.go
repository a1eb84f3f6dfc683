package infer_test

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"retinad/infer"
	"retinad/infer/infertest"
)

func TestSaveLoadRoundTrip(t *testing.T) {
	for _, m := range []*infer.Model{
		infertest.CNN(1, infertest.Small),
		infertest.LNModel(2, infertest.Small),
		infertest.GLMModel(3, infertest.Small, true),
		infertest.RecurrentCNN(4, infertest.Small, 2, 3),
	} {
		t.Run(m.Name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.retinad")
			if err := infer.Save(path, m); err != nil {
				t.Fatal(err)
			}
			got, err := infer.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("loaded model differs from saved:\n got %+v\nwant %+v", got, m)
			}
		})
	}
}

// rewrite returns b with its header replaced by f(header) and the CRC fixed.
func rewrite(t *testing.T, b []byte, f func(string) string) []byte {
	t.Helper()
	n := int(binary.LittleEndian.Uint32(b[12:]))
	h := f(strings.TrimRight(string(b[16:16+n]), " "))
	if len(h) > n {
		t.Fatalf("rewritten header longer than the padded one")
	}
	out := append([]byte{}, b...)
	copy(out[16:], h+strings.Repeat(" ", n-len(h)))
	fixCRC(out)
	return out
}

func fixCRC(b []byte) {
	end := len(b) - 4
	binary.LittleEndian.PutUint32(b[end:], crc32.ChecksumIEEE(b[:end]))
}

func TestDecodeRefusesBadFiles(t *testing.T) {
	good, err := infer.Encode(infertest.CNN(1, infertest.Small))
	if err != nil {
		t.Fatal(err)
	}
	nan := append([]byte{}, good...)
	hl := int(binary.LittleEndian.Uint32(nan[12:]))
	binary.LittleEndian.PutUint32(nan[16+hl+8:], math.Float32bits(float32(math.NaN())))
	fixCRC(nan)
	flipped := append([]byte{}, good...)
	flipped[len(flipped)/2] ^= 1
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"magic", append([]byte("NOTAMODEL"), good[9:]...), "not a native retinad model file"},
		{"truncated", good[:len(good)-100], "truncated"},
		{"corrupt", flipped, "crc32"},
		{"nan weight", nan, "layers.0.weight: value 2 is NaN"},
		{"unknown layer", rewrite(t, good, func(h string) string { return strings.Replace(h, `"relu"`, `"tanh"`, 1) }), `"tanh", want conv2d`},
		{"unknown field", rewrite(t, good, func(h string) string { return strings.Replace(h, `"kind"`, `"kimd"`, 1) }), `unknown field "kimd"`},
		{"wrong shape", rewrite(t, good, func(h string) string { return strings.Replace(h, `"shape":[4,5,7,7]`, `"shape":[4,5,7,6]`, 1) }), "layers[1].running_mean: shape [400], want [440]"},
		{"missing tensor", rewrite(t, good, func(h string) string { return strings.Replace(h, `"bias":"layers.0.bias"`, `"bias":"nope"`, 1) }), `layers[0].bias: tensor "nope"`},
		{"bad per", rewrite(t, good, func(h string) string { return strings.Replace(h, `"per":"unit"`, `"per":"cell"`, 1) }), `layers[1].per: "cell"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := infer.Decode(c.b)
			if err == nil {
				t.Fatalf("Decode accepted it")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "infer: ") {
				t.Errorf("error %q, want it to start with \"infer: \" and contain %q", err, c.want)
			}
		})
	}
}

// TestFormatVersions: a model with a recurrent layer is written as version 2, any other as
// version 1 (as before, so older readers load it); a reader refuses a convgru layer in a
// version 1 file, versions it does not know, and convgru tensors that do not fit.
func TestFormatVersions(t *testing.T) {
	ff, err := infer.Encode(infertest.CNN(1, infertest.Small))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := infer.Encode(infertest.RecurrentCNN(1, infertest.Small, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	if v1, v2 := binary.LittleEndian.Uint32(ff[8:]), binary.LittleEndian.Uint32(rec[8:]); v1 != 1 || v2 != 2 {
		t.Fatalf("versions written: feed-forward %d, recurrent %d; want 1 and 2", v1, v2)
	}
	version := func(b []byte, v uint32) []byte {
		out := append([]byte{}, b...)
		binary.LittleEndian.PutUint32(out[8:], v)
		fixCRC(out)
		return out
	}
	if _, err := infer.Decode(version(ff, 2)); err != nil {
		t.Errorf("a version 2 file without recurrent layers: %v", err)
	}
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"convgru in version 1", version(rec, 1), "layers[8].type: convgru in a version 1 file, want version 2"},
		{"version 3", version(rec, 3), "version 3, want 1 to 2"},
		{"version 0", version(ff, 0), "version 0, want 1 to 2"},
		{"state kernels of a conv2d", rewrite(t, rec, func(h string) string {
			h = strings.Replace(h, `"name":"infertest.RecurrentCNN"`, `"name":""`, 1) // room in the padded header
			return strings.Replace(h, `"bias":"layers.0.bias"`, `"bias_hh":"layers.0.bias"`, 1)
		}), "layers[0].bias_hh: a conv2d layer has no bias_hh"},
		{"no state kernels", rewrite(t, rec, func(h string) string {
			return strings.Replace(strings.Replace(h, `,"weight_hh":"layers.8.weight_hh"`, ``, 1), `{"name":"layers.8.weight_hh"`, `{"name":"unused"`, 1)
		}), `tensors: "unused" is used by no layer`},
		{"even kernel", rewrite(t, rec, func(h string) string {
			return strings.Replace(strings.Replace(h, `"shape":[6,3,3,3]`, `"shape":[6,3,3,2]`, 1), `"shape":[6,2,3,3]`, `"shape":[6,2,3,2]`, 1)
		}), "layers[8].weight: shape [6 3 3 2], want [3*hidden, 3, kh, kw] with kh and kw odd"},
		{"state kernels of another size", rewrite(t, rec, func(h string) string {
			return strings.Replace(h, `"shape":[6,2,3,3]`, `"shape":[6,1,3,3]`, 1)
		}), "layers[8].weight_hh: shape [6 1 3 3], want [6 2 3 3]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := infer.Decode(c.b)
			if err == nil {
				t.Fatalf("Decode accepted it")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "infer: ") {
				t.Errorf("error %q, want it to start with \"infer: \" and contain %q", err, c.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	tiny := infertest.Size{History: 2, Height: 4, Width: 3, C1: 2, C2: 1, K1: 2, K2: 2, Cells: 2}
	for _, m := range []*infer.Model{infertest.CNN(1, tiny), infertest.CNNVariant(1, tiny, infer.Sigmoid), infertest.LNModel(2, tiny), infertest.GLMModel(3, tiny, true), infertest.RecurrentCNN(4, tiny, 1, 1)} {
		b, err := infer.Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 16 {
			fixCRC(b) // reach past the checksum
		}
		m, err := infer.Decode(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "infer: ") {
				t.Errorf("error without the package name: %v", err)
			}
			return
		}
		again, err := infer.Encode(m)
		if err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		m2, err := infer.Decode(again)
		if err != nil || !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-encoded model does not round-trip: %v", err)
		}
	})
}

func BenchmarkDecodeSmall(b *testing.B) {
	buf, _ := infer.Encode(infertest.CNN(1, infertest.Small))
	for b.Loop() {
		if _, err := infer.Decode(buf); err != nil {
			b.Fatal(err)
		}
	}
}
