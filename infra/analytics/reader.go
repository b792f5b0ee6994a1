package analytics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/redis/go-redis/v9"
)

// entry is one stream entry: its Redis ID (for XACK) and the watermill
// message payload.
type entry struct {
	Stream  string
	RedisID string
	UUID    string
	Payload string
	// Trimmed: the entry was pending (delivered, not acknowledged) and the
	// stream's MAXLEN trimmed it; it came back without fields and its
	// record is lost.
	Trimmed bool
	// Retry: written by a retried publish (the RetryField marker), so the
	// same record may be in the stream twice.
	Retry bool
}

// RetryField marks a stream entry written by a retry of a publish whose
// first attempt may have gone through (docs/EVENTS.md): its record may
// already be in the stream, so a reader that must not count it twice
// checks it.
const RetryField = "retry"

// lossHint ends every loss log line.
const lossHint = "raise analytics.retention (the stream's MAXLEN) or fix the consumer that falls behind"

// groupReader reads streams as one consumer of a consumer group with plain
// XREADGROUP rather than watermill's subscriber, because it hands out one
// message at a time and waits for its ack, which rules out batch inserts.
// The entries are still watermill's wire format (the publishers are
// watermill's), decoded with its unmarshaller.
//
// Entries the stream's MAXLEN trimmed before the group read them, and
// pending entries trimmed before they were acknowledged, are lost: the
// reader counts them (lost) and logs each detection at error level.
type groupReader struct {
	client   *redis.Client
	streams  []string
	group    string
	consumer string
	logger   *slog.Logger
	lost     atomic.Int64
}

// reportLost counts n lost entries of stream and logs them once.
func (r *groupReader) reportLost(stream string, n int64, what string) {
	if n <= 0 {
		return
	}
	total := r.lost.Add(n)
	if r.logger != nil {
		r.logger.Error("stream entries lost: "+what, "lost", n, "lostTotal", total,
			"stream", stream, "group", r.group, "hint", lossHint)
	}
}

// ensureGroup creates the group on every stream, starting at start ("0" =
// the oldest retained entry, "$" = only new ones). An existing group keeps
// its position: that is what makes a restarted consumer resume.
//
// A new group is created with its entries-read counter set (Redis 7's
// ENTRIESREAD): without it Redis leaves the counter unknown until the first
// read and then estimates it as if every trimmed entry had been read, so
// entries trimmed before that first read could not be counted as lost.
// Entries trimmed before the group existed are not its loss.
func (r *groupReader) ensureGroup(ctx context.Context, start string) error {
	for _, s := range r.streams {
		id, read := start, int64(0)
		info, err := r.client.XInfoStream(ctx, s).Result()
		switch {
		case err != nil && !strings.Contains(err.Error(), "no such key"):
			return fmt.Errorf("creating consumer group %s on %s: %w", r.group, s, err)
		case err != nil:
			// No stream yet: nothing added, nothing read.
		case start == "$":
			// The ID and the count of the same XINFO reply, so that an
			// entry added in between is neither skipped nor counted.
			id, read = info.LastGeneratedID, info.EntriesAdded
		default:
			read = info.EntriesAdded - info.Length
		}
		err = r.client.Do(ctx, "XGROUP", "CREATE", s, r.group, id, "MKSTREAM", "ENTRIESREAD", read).Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			// A server without ENTRIESREAD (before 7.0): create the group
			// without it.
			err = r.client.XGroupCreateMkStream(ctx, s, r.group, start).Err()
		}
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("creating consumer group %s on %s: %w", r.group, s, err)
		}
	}
	return nil
}

// pending returns up to count entries delivered to this consumer and never
// acknowledged: what a crash left behind.
func (r *groupReader) pending(ctx context.Context, count int) ([]entry, error) {
	return r.pendingAfter(ctx, "0", count)
}

// pendingAfter is pending from the first entry after the stream ID after,
// so a caller can page through them without acknowledging first.
func (r *groupReader) pendingAfter(ctx context.Context, after string, count int) ([]entry, error) {
	return r.read(ctx, after, count, -1)
}

// fresh waits up to block for entries never delivered to the group.
//
// It first reads without blocking, in one MULTI with XINFO STREAM and
// XINFO GROUPS of every stream, so the check for entries trimmed unread
// sees exactly the state the read starts from: XREADGROUP continues
// silently from the oldest entry left, and once it has, the gap cannot be
// told apart any more. Every consumer of the group reads that way, so each
// gap is counted once, by the consumer whose read crossed it. Only when
// there is nothing to read does it block, caught up, with nothing unread
// left to trim.
func (r *groupReader) fresh(ctx context.Context, count int, block time.Duration) ([]entry, error) {
	pipe := r.client.TxPipeline()
	streamInfo := make([]*redis.XInfoStreamCmd, len(r.streams))
	groupInfo := make([]*redis.Cmd, len(r.streams))
	for i, s := range r.streams {
		streamInfo[i] = pipe.XInfoStream(ctx, s)
		groupInfo[i] = pipe.Do(ctx, "XINFO", "GROUPS", s)
	}
	read := pipe.XReadGroup(ctx, r.readArgs(">", count, -1))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	for i, s := range r.streams {
		info, err := streamInfo[i].Result()
		if err != nil {
			return nil, err
		}
		groups, err := groupInfo[i].Result()
		if err != nil {
			return nil, err
		}
		r.reportLost(s, trimmedUnread(info, groups, r.group), "trimmed by MAXLEN before the group read them")
	}
	es, err := r.entries(read)
	if err != nil || len(es) > 0 || block < 0 {
		return es, err
	}
	return r.read(ctx, ">", count, block)
}

// trimmedUnread is how many entries the stream trimmed that group had not
// read, when its next read will skip them: its last-delivered-id is older
// than the stream's first entry. Redis 7 counts the entries ever added to
// the stream (entries-added) and those the group read (entries-read), so
// the entries the group never read are entries-added - entries-read, of
// which length are still there. 0 when the group's counter is unknown
// (Redis leaves it so until the first read of a group created without
// ENTRIESREAD, and after XDEL).
func trimmedUnread(info *redis.XInfoStream, groups any, group string) int64 {
	g := infoGroup(groups, group)
	if g == nil {
		return 0
	}
	read, ok := g["entries-read"].(int64)
	last, _ := g["last-delivered-id"].(string)
	if !ok {
		return 0
	}
	if info.Length > 0 && !idBefore(last, info.FirstEntry.ID) {
		return 0
	}
	return max(info.EntriesAdded-read-info.Length, 0)
}

// infoGroup finds group in an XINFO GROUPS reply, as a map of its fields
// (RESP3 maps or RESP2 flat arrays). Parsed here rather than by go-redis,
// which reads an unknown (null) entries-read as 0.
func infoGroup(reply any, group string) map[string]any {
	list, _ := reply.([]any)
	for _, item := range list {
		fields := map[string]any{}
		switch v := item.(type) {
		case map[any]any:
			for k, x := range v {
				if ks, ok := k.(string); ok {
					fields[ks] = x
				}
			}
		case []any:
			for i := 0; i+1 < len(v); i += 2 {
				if ks, ok := v[i].(string); ok {
					fields[ks] = v[i+1]
				}
			}
		}
		if fields["name"] == group {
			return fields
		}
	}
	return nil
}

// idBefore reports whether stream ID a is older than b.
func idBefore(a, b string) bool {
	am, as := splitID(a)
	bm, bs := splitID(b)
	return am < bm || (am == bm && as < bs)
}

func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

func (r *groupReader) readArgs(id string, count int, block time.Duration) *redis.XReadGroupArgs {
	args := &redis.XReadGroupArgs{Group: r.group, Consumer: r.consumer, Count: int64(count), Block: block}
	for _, s := range r.streams {
		args.Streams = append(args.Streams, s)
	}
	for range r.streams {
		args.Streams = append(args.Streams, id)
	}
	return args
}

func (r *groupReader) read(ctx context.Context, id string, count int, block time.Duration) ([]entry, error) {
	return r.entries(r.client.XReadGroup(ctx, r.readArgs(id, count, block)))
}

// entries decodes an XREADGROUP reply and counts the pending entries in it
// that were trimmed.
func (r *groupReader) entries(cmd *redis.XStreamSliceCmd) ([]entry, error) {
	res, err := cmd.Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, s := range res {
		trimmed := int64(0)
		for _, m := range s.Messages {
			e := decodeEntry(s.Stream, m)
			if e.Trimmed {
				trimmed++
			}
			out = append(out, e)
		}
		r.reportLost(s.Stream, trimmed, "pending entries trimmed by MAXLEN before they were acknowledged")
	}
	return out, nil
}

// claimStale takes over up to count entries of the first stream that
// another consumer of the group received but has not acknowledged for
// minIdle (a node that died and never came back), scanning from the stream
// ID start. next is where the following call continues; "0-0" when the
// scan is complete.
//
// Entries the stream trimmed while they were pending are not returned:
// Redis 7 drops them from the pending list and names them in a third part
// of the reply, which go-redis discards; so the command is sent raw, and
// they are counted as lost.
func (r *groupReader) claimStale(ctx context.Context, minIdle time.Duration, start string, count int) (es []entry, next string, err error) {
	s := r.streams[0]
	reply, err := r.client.Do(ctx, "XAUTOCLAIM", s, r.group, r.consumer, minIdle.Milliseconds(), start, "COUNT", count).Slice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", err
	}
	if len(reply) < 2 {
		return nil, "0-0", nil
	}
	next, _ = reply[0].(string)
	msgs, _ := reply[1].([]any)
	trimmed := int64(0)
	for _, m := range msgs {
		parts, _ := m.([]any)
		if len(parts) < 1 {
			continue
		}
		msg := redis.XMessage{Values: map[string]any{}}
		msg.ID, _ = parts[0].(string)
		if len(parts) > 1 {
			kv, _ := parts[1].([]any)
			for i := 0; i+1 < len(kv); i += 2 {
				if k, ok := kv[i].(string); ok {
					msg.Values[k] = kv[i+1]
				}
			}
		}
		e := decodeEntry(s, msg)
		if e.Trimmed {
			trimmed++
		}
		es = append(es, e)
	}
	if len(reply) > 2 {
		deleted, _ := reply[2].([]any)
		trimmed += int64(len(deleted))
	}
	r.reportLost(s, trimmed, "entries pending with another consumer trimmed by MAXLEN before they were acknowledged")
	return es, next, nil
}

// ackChunk bounds the IDs of one XACK; the chunks of a batch still go in
// one pipelined round trip.
const ackChunk = 10000

func (r *groupReader) ack(ctx context.Context, es []entry) error {
	byStream := map[string][]string{}
	for _, e := range es {
		byStream[e.Stream] = append(byStream[e.Stream], e.RedisID)
	}
	for s, ids := range byStream {
		if err := r.ackIDs(ctx, s, ids); err != nil {
			return err
		}
	}
	return nil
}

// ackIDs acknowledges entries of one stream by ID.
func (r *groupReader) ackIDs(ctx context.Context, stream string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	pipe := r.client.Pipeline()
	for i := 0; i < len(ids); i += ackChunk {
		pipe.XAck(ctx, stream, r.group, ids[i:min(i+ackChunk, len(ids))]...)
	}
	_, err := pipe.Exec(ctx)
	return err
}

// decodeEntry reads the fields of watermill-redisstream's default
// marshaller (what DefaultMarshallerUnmarshaller.Unmarshal reads, without
// building a watermill message per entry: the projector reads tens of
// thousands a second), and keyline's retry marker (RetryField). The
// metadata field is not read: keyline's publishers set none and its readers
// use none.
func decodeEntry(stream string, m redis.XMessage) entry {
	e := entry{Stream: stream, RedisID: m.ID}
	// A pending entry that was trimmed comes back with no fields: its
	// record is lost (counted by the caller), and it is acknowledged, as
	// there is nothing to recover. An entry without a UUID, which
	// watermill's unmarshaller refuses, is skipped and acknowledged too.
	if len(m.Values) == 0 {
		e.Trimmed = true
		return e
	}
	_, e.Retry = m.Values[RetryField]
	uuid, ok := m.Values[redisstream.UUIDHeaderKey].(string)
	if !ok {
		return e
	}
	e.UUID = uuid
	e.Payload, _ = m.Values["payload"].(string)
	return e
}
