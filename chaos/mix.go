package chaos

import (
	"math/rand"
	"time"
)

// Mix is what a run does to the pipeline besides the posts: how often it
// edits, deletes and poisons, and when and how hard it kills.
type Mix struct {
	// EditRatio and DeleteRatio are the shares of events that edit or
	// delete an earlier post; PoisonRatio the share of invalid records.
	EditRatio, DeleteRatio, PoisonRatio float64
	// KillEvery is the mean time between two SIGKILLs (each interval is
	// drawn between half and one and a half of it).
	KillEvery time.Duration
	// Burst is the probability that a SIGKILL takes two workers at once.
	Burst float64
	// RestartAt is the share of the posts produced when the broker
	// restarts.
	RestartAt float64
	// LikeRatio and UnlikeRatio are the shares of events that like a post
	// (Zipf over the posts the extractor has committed) or take a like
	// back.
	LikeRatio, UnlikeRatio float64
}

// ClassicMix is seed 1's mix, the one the README's single-run figure
// uses: 10 % edits, 5 % deletes, 0.1 % poison records, 25 % likes, 3 %
// unlikes, a worker SIGKILLed every 1–3 s, the broker restarted at half the
// load.
var ClassicMix = Mix{EditRatio: 0.10, DeleteRatio: 0.05, PoisonRatio: 0.001, KillEvery: 2 * time.Second, RestartAt: 0.5,
	LikeRatio: 0.25, UnlikeRatio: 0.03}

// MixFor returns seed's mix: ClassicMix for seed 1, and for every other
// seed a draw that makes seeds explore different schedules: 3–30 %
// edits, 1–15 % deletes, 0.05–0.5 % poison, a SIGKILL every 0.6–5 s
// on average, up to a third of them taking two workers at once, the
// broker restart anywhere between a fifth and four fifths of the load,
// 10–40 % likes and 1–8 % unlikes.
func MixFor(seed int64) Mix {
	if seed == 1 {
		return ClassicMix
	}
	r := rand.New(rand.NewSource(seed*7919 + 17))
	between := func(lo, hi float64) float64 { return lo + r.Float64()*(hi-lo) }
	return Mix{
		EditRatio:   between(0.03, 0.30),
		DeleteRatio: between(0.01, 0.15),
		PoisonRatio: between(0.0005, 0.005),
		KillEvery:   time.Duration(between(0.6, 5) * float64(time.Second)).Round(10 * time.Millisecond),
		Burst:       between(0, 0.33),
		RestartAt:   between(0.2, 0.8),
		// Drawn last, so that every seed keeps the schedule it had
		// before likes existed.
		LikeRatio:   between(0.10, 0.40),
		UnlikeRatio: between(0.01, 0.08),
	}
}
