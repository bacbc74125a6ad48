package service

import (
	"context"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
)

// ErrNoShardKeys is the error of shard-key changes: shard keys belong to
// custom sharding, which this server does not offer.
var ErrNoShardKeys = api.ErrBadRequest("Shard keys are only supported for collections with custom sharding method, which this server does not offer")

// CheckStandaloneChange is the check both API adapters make, through svc,
// before refusing a collection's cluster-setup or shard-key change that a
// standalone server cannot make (api.ErrStandalone, ErrNoShardKeys): the
// caller may manage the collection, and it exists. So the REST and gRPC
// answers agree: 403, 404, then the refusal.
func CheckStandaloneChange(ctx context.Context, svc API, collection string) error {
	if err := auth.FromContext(ctx).CheckCollection(collection, auth.Manage); err != nil {
		return err
	}
	ok, err := svc.CollectionExists(ctx, collection)
	if err != nil {
		return err
	}
	if !ok {
		return api.ErrCollectionNotFound(collection)
	}
	return nil
}
