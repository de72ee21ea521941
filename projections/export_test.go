package projections

import (
	"context"

	"github.com/tenantflow/tenantflow/eventstore"
)

// ApplyForTest applies events to every projector's current generation, as
// the live feed does.
func (en *Engine) ApplyForTest(ctx context.Context, events []eventstore.Event) error {
	return en.applyBatch(ctx, en.Projectors, events, 0)
}
