package analytics

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/infra/redisstream"
)

// Consumer prints the management and analytics streams as JSON lines, as
// one consumer of a consumer group: `keyline consume`.
type Consumer struct {
	reader groupReader
	batch  int
}

// NewConsumer reads both streams as consumer of group. Entries lost to the
// streams' MAXLEN before the group read them are counted (Lost) and logged
// at error level to logger; `keyline consume` logs to stderr, as stdout
// carries the JSON lines.
func NewConsumer(client *redis.Client, cfg *configs.Redis, group, consumer string, logger *slog.Logger) *Consumer {
	return &Consumer{reader: groupReader{client: client,
		streams: []string{cfg.Stream(redisstream.EventsTopic), cfg.Stream(redisstream.AnalyticsTopic)},
		group:   group, consumer: consumer, logger: logger},
		batch: 500}
}

// Lost is how many stream entries were lost since start: trimmed before
// this consumer's group read them, or while pending with this consumer.
func (c *Consumer) Lost() int64 { return c.reader.lost.Load() }

// Run prints until ctx ends. fromBeginning decides where a new group
// starts (the oldest retained entry, or only what arrives from now on); an
// existing group resumes where it stopped, beginning with the entries this
// consumer received but had not acknowledged. Entries are acknowledged only
// after their lines were written: delivery is at-least-once, and every line
// carries the event's unique "id" for deduplication.
func (c *Consumer) Run(ctx context.Context, fromBeginning bool, out io.Writer) error {
	start := "$"
	if fromBeginning {
		start = "0"
	}
	if err := c.reader.ensureGroup(ctx, start); err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	for {
		es, err := c.reader.pending(ctx, c.batch)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			break
		}
		if err := c.print(ctx, w, es); err != nil {
			return err
		}
	}
	for {
		es, err := c.reader.fresh(ctx, c.batch, time.Second)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if err := c.print(ctx, w, es); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while acknowledging: the entries stay pending
			}
			return err
		}
	}
}

func (c *Consumer) print(ctx context.Context, w *bufio.Writer, es []entry) error {
	if len(es) == 0 {
		return nil
	}
	var line bytes.Buffer
	for _, e := range es {
		line.Reset()
		if len(e.Payload) == 0 || json.Compact(&line, []byte(e.Payload)) != nil {
			continue // trimmed by MAXLEN while pending (counted as lost), or not JSON: nothing to print
		}
		line.WriteByte('\n')
		if _, err := w.Write(line.Bytes()); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return c.reader.ack(ctx, es)
}
