package adaptive

import "retinad/configs"

// Pool draws candidate clips from one reproducible stimulus (natural scenes with their jitter,
// white noise, ...): slot k is the clip starting at frame Lead + k*(Lead+Frames), so that the
// shown stretches (the Lead frames of history, then the clip) of two slots never overlap.
type Pool struct {
	Stimulus configs.Stimulus
	Frames   int    // frames per clip
	Lead     int    // frames shown before each clip: the models' history - 1
	Slots    int    // number of slots to draw from; 0 means 1<<20 (a source that never ends)
	Seed     uint64 // which slots each choice draws
}

// At returns slot k.
func (p Pool) At(k int) Clip {
	return Clip{Stimulus: p.Stimulus, Start: p.Lead + k*(p.Lead+p.Frames), Frames: p.Frames}
}

// Draw returns n clips of distinct slots for choice seq, a pure function of (Seed, seq).
func (p Pool) Draw(seq, n int) []Clip {
	slots := p.Slots
	if slots <= 0 {
		slots = 1 << 20
	}
	n = min(n, slots)
	out := make([]Clip, 0, n)
	seen := make(map[int]bool, n)
	state := mix(p.Seed ^ mix(uint64(seq)+0x5eed))
	for len(out) < n {
		state += 0x9E3779B97F4A7C15
		k := int(mix(state) % uint64(slots))
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, p.At(k))
	}
	return out
}

// mix is SplitMix64's finaliser (as package stimulus uses it).
func mix(z uint64) uint64 {
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}
