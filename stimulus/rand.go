package stimulus

import "math"

// Stream tags: each use of randomness has its own SplitMix64 stream (see the package doc).
const (
	tagWhiteNoise = 1
	tagFlicker    = 2
	tagPhoto      = 3
	tagWalk       = 4
)

const golden = 0x9E3779B97F4A7C15

// mix is SplitMix64's output function.
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// splitmix is one SplitMix64 stream.
type splitmix struct{ state uint64 }

// stream returns the stream of the given use (tag) and frame or block number n.
func stream(seed uint64, tag uint64, n uint64) splitmix {
	return splitmix{state: mix(seed ^ mix(tag<<56|n&(1<<56-1)))}
}

func (s *splitmix) next() uint64 {
	s.state += golden
	return mix(s.state)
}

// uniform returns a float64 in [0, 1).
func (s *splitmix) uniform() float64 { return float64(s.next()>>11) * 0x1p-53 }

// sign returns +1 or -1 from the top bit of the next draw.
func (s *splitmix) sign() float64 {
	if s.next()>>63 == 1 {
		return 1
	}
	return -1
}

// normal returns a standard normal by Box-Muller, cosine only.
func (s *splitmix) normal() float64 {
	u1 := s.uniform()
	u2 := s.uniform()
	return math.Sqrt(-2*math.Log(1-u1)) * math.Cos(2*math.Pi*u2)
}

func clip(v float64) float32 {
	if v > 1 {
		return 1
	}
	if v < -1 {
		return -1
	}
	return float32(v)
}
