package api

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// writeLimiter gives each user a token bucket for writes (posts, edits,
// deletes, upload reservations): burst writes at once, then rate per
// second. One user's burst empties only their own bucket. State is one
// small bucket per user who wrote recently, at most maxUsers of them:
// a full bucket is the same as none, so buckets that have refilled are
// dropped first, then the least recently used.
//
// The limit is per API process: behind N replicas a user gets up to N
// times it unless the edge routes a user to one replica. It is a fairness
// bound for people, not a quota.
type writeLimiter struct {
	rate, burst float64
	maxUsers    int

	mu    sync.Mutex
	users map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newWriteLimiter(rate float64, burst, maxUsers int) *writeLimiter {
	return &writeLimiter{rate: rate, burst: float64(burst), maxUsers: maxUsers, users: map[string]*bucket{}}
}

// take spends one write of user's at now, or says how long until there is one.
func (l *writeLimiter) take(user string, now time.Time) (ok bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.users[user]
	if b == nil {
		if len(l.users) >= l.maxUsers {
			l.evict(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.users[user] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// evict drops the buckets that have refilled by now, or if none has, the
// least recently used half: O(users) once per maxUsers/2 new users.
func (l *writeLimiter) evict(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for u, b := range l.users {
		if now.Sub(b.last) >= full {
			delete(l.users, u)
		}
	}
	if len(l.users) < l.maxUsers {
		return
	}
	var oldest []time.Time
	for _, b := range l.users {
		oldest = append(oldest, b.last)
	}
	cut := median(oldest)
	for u, b := range l.users {
		if !b.last.After(cut) {
			delete(l.users, u)
		}
	}
}

func median(ts []time.Time) time.Time {
	sorted := slices.SortedFunc(slices.Values(ts), time.Time.Compare)
	return sorted[len(sorted)/2]
}

// allowWrite answers 429 with Retry-After when user has no write left.
func (s *server) allowWrite(w http.ResponseWriter, user string) bool {
	if s.writes == nil {
		return true
	}
	ok, retry := s.writes.take(user, s.cfg.Now())
	if ok {
		return true
	}
	secs := int(math.Ceil(retry.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, fmt.Sprintf("too many writes: at most %d at once, then one every %s; retry in %d s",
		int(s.writes.burst), time.Duration(float64(time.Second)/s.writes.rate).Round(time.Millisecond), secs))
	return false
}
