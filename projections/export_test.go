package projections

import (
	"context"

	"github.com/tenantflow/tenantflow/eventstore"
)

// ApplyForTest applies events to every projector's current generation, as
// the live feed does.
func (en *Engine) ApplyForTest(ctx context.Context, events []eventstore.Event) error {
	for _, p := range en.Projectors {
		if err := en.applyBatch(ctx, p, 0, events); err != nil {
			return err
		}
	}
	return nil
}
