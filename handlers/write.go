package handlers

import (
	"context"
	"errors"

	"github.com/keyline/keyline/events"
)

// maxConflictRetries bounds how often a command decides again after its
// append lost a race for the stream (events.ErrVersionConflict). A conflict
// means another writer changed the same aggregate between our load and our
// append; deciding again on the fresh state is always correct, and the
// bound only keeps a pathological hot stream from looping for ever (the
// last conflict then surfaces as a 500).
const maxConflictRetries = 5

// aggregate is what the write loop folds: a pointer to an events aggregate.
type aggregate[A any] interface {
	*A
	Apply(events.Event)
}

// update is the one write loop of every command on an existing stream:
// load the stream into a fresh aggregate, let decide turn the command into
// events, append them at the loaded stream version, and start over on a
// version conflict. decide's error is returned unchanged (it maps domain
// errors to the caller's vocabulary itself); deciding nothing appends
// nothing. The events carry *meta at the time of the append, so an
// operator's command, which learns the workspace only from the aggregate,
// completes it in decide. The returned aggregate includes the appended events. what names
// the aggregate in internal error messages.
func update[A any, P aggregate[A]](ctx context.Context, log EventLog, stream string, meta *events.Metadata, what string,
	decide func(P) ([]events.Event, error)) (P, error) {
	for attempt := 0; ; attempt++ {
		agg := P(new(A))
		version, err := load(ctx, log, stream, agg.Apply)
		if err != nil {
			return nil, Internal("loading "+what, err)
		}
		evs, err := decide(agg)
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			return agg, nil
		}
		_, err = log.Append(ctx, stream, version, *meta, evs...)
		if errors.Is(err, events.ErrVersionConflict) && attempt < maxConflictRetries {
			continue
		}
		if err != nil {
			return nil, Internal("appending "+what+" events", err)
		}
		for _, e := range evs {
			agg.Apply(e)
		}
		return agg, nil
	}
}

// load folds streamID's events through apply and returns the stream's
// version, the expected version of the next append.
func load(ctx context.Context, log EventLog, streamID string, apply func(events.Event)) (int64, error) {
	recs, err := log.Load(ctx, streamID)
	if err != nil {
		return 0, err
	}
	for _, r := range recs {
		e, err := r.Decode()
		if err != nil {
			return 0, err
		}
		apply(e)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	return recs[len(recs)-1].StreamVersion, nil
}

// fold is load for readers that need only the state.
func fold(ctx context.Context, log EventLog, streamID string, apply func(events.Event)) error {
	_, err := load(ctx, log, streamID, apply)
	return err
}
