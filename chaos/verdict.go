package chaos

import (
	"errors"
	"fmt"
)

// Kind classifies why a chaos run failed. The verdict's first word is the
// kind, so a folder of failed runs can be sorted by cause at a glance.
type Kind string

// The kinds of failure, from the most to the least serious.
const (
	// KindLost: the input topics do not hold exactly the records the load
	// had acknowledged: Kafka lost an acknowledged write (or duplicated
	// one). What the ground truth is read from is then wrong itself.
	KindLost Kind = "lost"
	// KindDrift: the pipeline caught up, and counts differ from the
	// ground truth. The exactly-once promise is broken.
	KindDrift Kind = "drift"
	// KindLists: the pipeline caught up, the counts are right, and a
	// hashtag's recent or top list, a like count, a caption or the
	// trending list differs from the ground truth.
	KindLists Kind = "lists"
	// KindBound: a post deleted in the steady phase was still shown in a
	// list of one of its hashtags longer than topology.md's bound after
	// its delete (or no delete of the steady phase could be followed).
	KindBound Kind = "bound"
	// KindStale: counts in the table equal the truth, but the API's view
	// serves other values: the read side lags or lost its way.
	KindStale Kind = "stale"
	// KindNotRecovered: a process kept failing after the load ended (a
	// worker that crash-loops, an API that never became ready again).
	KindNotRecovered Kind = "not-recovered"
	// KindTimeout: the pipeline did not catch up within the drain bound,
	// with every process running.
	KindTimeout Kind = "timeout"
	// KindService: Kafka, a restart of it, or the API did not start; the
	// run says nothing about tagstream's guarantee.
	KindService Kind = "service"
	// KindHarness: the run itself failed (bad options, a build, a file).
	KindHarness Kind = "harness"
)

// Failure is the error Run returns: a kind and what exactly went wrong.
type Failure struct {
	Kind Kind
	Msg  string
	Err  error
}

func (f *Failure) Error() string {
	if f.Err != nil {
		return fmt.Sprintf("%s: %s: %v", f.Kind, f.Msg, f.Err)
	}
	return fmt.Sprintf("%s: %s", f.Kind, f.Msg)
}

func (f *Failure) Unwrap() error { return f.Err }

// Is lets errors.Is(err, ErrDrift) keep working for callers that only ask
// whether counts drifted.
func (f *Failure) Is(target error) bool { return target == ErrDrift && f.Kind == KindDrift }

// ErrDrift matches (errors.Is) a Failure of KindDrift.
var ErrDrift = errors.New("chaos: counts differ from the ground truth")

func fail(k Kind, err error, format string, args ...any) *Failure {
	return &Failure{Kind: k, Msg: fmt.Sprintf(format, args...), Err: err}
}

// Verdict is the one-line verdict of err: "ok", or the failure's kind and
// message.
func Verdict(err error) string {
	if err == nil {
		return "ok"
	}
	var f *Failure
	if errors.As(err, &f) {
		return f.Error()
	}
	return fmt.Sprintf("%s: %v", KindHarness, err)
}
