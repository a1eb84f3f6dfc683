package fit

import (
	"encoding/json"
	"math"
)

// Score is how well predicted rates match observed counts over a stretch of bins.
type Score struct {
	// BitsPerSpike is the Poisson log-likelihood of the counts under the predicted rates,
	// minus that under a homogeneous Poisson model with the stretch's own mean rate, in bits
	// per observed spike. 0 is no better than a constant rate; negative is worse.
	BitsPerSpike Num `json:"bits_per_spike"`
	// R is the Pearson correlation of the predicted rate with the binned counts.
	R Num `json:"r"`
	// NSpikes is the number of spikes in the stretch.
	NSpikes float64 `json:"n_spikes"`
}

// Num is a float64 that encodes NaN (undefined, e.g. r of a constant) as JSON null.
type Num float64

func (n Num) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(n)) || math.IsInf(float64(n), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(n))
}

func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	return json.Unmarshal(b, (*float64)(n))
}

// score compares rates (spikes per bin, > 0) with counts y.
func score(rate, y []float64) Score {
	n := float64(len(y))
	var nsp, ll, sr, sy, srr, syy, sry float64
	for t, yt := range y {
		r := max(rate[t], minRate)
		nsp += yt
		ll += yt*math.Log(r) - r
		sr += r
		sy += yt
		srr += r * r
		syy += yt * yt
		sry += r * yt
	}
	s := Score{NSpikes: nsp, BitsPerSpike: Num(math.NaN()), R: Num(math.NaN())}
	if nsp > 0 {
		mean := nsp / n
		ll0 := nsp*math.Log(mean) - nsp
		s.BitsPerSpike = Num((ll - ll0) / (nsp * math.Ln2))
	}
	cov := sry - sr*sy/n
	vr := srr - sr*sr/n
	vy := syy - sy*sy/n
	if vr > 1e-12*srr && vy > 1e-12*syy {
		s.R = Num(cov / math.Sqrt(vr*vy))
	}
	return s
}

// Polarity is "ON" if the filter's largest-magnitude weight (over lags and the p pixels of
// a frame) is positive, "OFF" if negative: whether the cell fires for light increments or
// decrements at its preferred delay and location.
func Polarity(filter []float64, p int) string {
	var big float64
	for _, v := range filter {
		if math.Abs(v) > math.Abs(big) {
			big = v
		}
	}
	if big < 0 {
		return "OFF"
	}
	return "ON"
}
