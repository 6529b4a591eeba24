package kafka

import (
	"context"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoLogger sends franz-go's log lines to slog. franz-go logs every
// transaction and rebalance step at Info; those become Debug here, so a
// worker at --log-level info shows tagstream's own story (restores,
// aborts) and franz-go's warnings and errors, not a line per transaction.
type kgoLogger struct{ role string }

func (l kgoLogger) level(kl kgo.LogLevel) slog.Level {
	switch kl {
	case kgo.LogLevelError:
		return slog.LevelError
	case kgo.LogLevelWarn:
		return slog.LevelWarn
	default:
		return slog.LevelDebug
	}
}

// Level asks slog what it would write, so franz-go skips formatting the rest.
func (l kgoLogger) Level() kgo.LogLevel {
	h := slog.Default().Handler()
	for _, kl := range []kgo.LogLevel{kgo.LogLevelDebug, kgo.LogLevelWarn, kgo.LogLevelError} {
		if h.Enabled(context.Background(), l.level(kl)) {
			return kl
		}
	}
	return kgo.LogLevelNone
}

func (l kgoLogger) Log(kl kgo.LogLevel, msg string, keyvals ...any) {
	slog.Log(context.Background(), l.level(kl), msg, append([]any{"source", "franz-go", "client", l.role}, keyvals...)...)
}
