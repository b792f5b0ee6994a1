package analytics

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
}

// groupReader reads streams as one consumer of a consumer group with plain
// XREADGROUP rather than watermill's subscriber, because it hands out one
// message at a time and waits for its ack, which rules out batch inserts.
// The entries are still watermill's wire format (the publishers are
// watermill's), decoded with its unmarshaller.
type groupReader struct {
	client   *redis.Client
	streams  []string
	group    string
	consumer string
}

// ensureGroup creates the group on every stream, starting at start ("0" =
// the oldest retained entry, "$" = only new ones). An existing group keeps
// its position: that is what makes a restarted consumer resume.
func (r *groupReader) ensureGroup(ctx context.Context, start string) error {
	for _, s := range r.streams {
		err := r.client.XGroupCreateMkStream(ctx, s, r.group, start).Err()
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
func (r *groupReader) fresh(ctx context.Context, count int, block time.Duration) ([]entry, error) {
	return r.read(ctx, ">", count, block)
}

func (r *groupReader) read(ctx context.Context, id string, count int, block time.Duration) ([]entry, error) {
	args := &redis.XReadGroupArgs{Group: r.group, Consumer: r.consumer, Count: int64(count), Block: block}
	for _, s := range r.streams {
		args.Streams = append(args.Streams, s)
	}
	for range r.streams {
		args.Streams = append(args.Streams, id)
	}
	res, err := r.client.XReadGroup(ctx, args).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, s := range res {
		for _, m := range s.Messages {
			out = append(out, decodeEntry(s.Stream, m))
		}
	}
	return out, nil
}

// claimStale takes over up to count entries of the first stream that
// another consumer of the group received but has not acknowledged for
// minIdle (a node that died and never came back), scanning from the stream
// ID start. next is where the following call continues; "0-0" when the
// scan is complete.
func (r *groupReader) claimStale(ctx context.Context, minIdle time.Duration, start string, count int) (es []entry, next string, err error) {
	s := r.streams[0]
	msgs, next, err := r.client.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: s, Group: r.group,
		Consumer: r.consumer, MinIdle: minIdle, Start: start, Count: int64(count)}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, "", err
	}
	for _, m := range msgs {
		es = append(es, decodeEntry(s, m))
	}
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
// thousands a second). The metadata field is not read: keyline's
// publishers set none and its readers use none.
func decodeEntry(stream string, m redis.XMessage) entry {
	e := entry{Stream: stream, RedisID: m.ID}
	// A deleted-but-pending entry comes back with no fields; it has nothing
	// to project and is simply acknowledged. So is an entry without a UUID,
	// which watermill's unmarshaller refuses.
	uuid, ok := m.Values[redisstream.UUIDHeaderKey].(string)
	if !ok {
		return e
	}
	e.UUID = uuid
	e.Payload, _ = m.Values["payload"].(string)
	return e
}
