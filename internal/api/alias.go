package api

import "encoding/json"

// Aliases. Qdrant's REST bodies accept "with_vectors" for "with_vector"
// (`#[serde(alias = "with_vectors")]` on the search, recommend, discover,
// query, scroll and retrieve requests), and "optimizer_config" and
// "quantization" for "optimizers_config" and "quantization_config" when
// creating a collection. The request types carry the alias
// as a field of its own, so that decoding and the unknown-member check
// (CheckFields) know it, and ResolveAliases moves it into WithVector after
// decoding; the rest of Shoal reads WithVector only.

// AliasResolver is implemented by request types with aliased members.
type AliasResolver interface {
	// ResolveAliases moves every alias's value to its member, refusing a
	// body that gives both (serde's "duplicate field").
	ResolveAliases() error
}

// resolveWithVectors moves *alias into *with.
func resolveWithVectors(with, alias **VectorSelector) error {
	if *alias == nil {
		return nil
	}
	if *with != nil {
		return &Error{Kind: KindBadInput, Message: "Format error in JSON body: duplicate field `with_vector`"}
	}
	*with, *alias = *alias, nil
	return nil
}

// resolveRaw moves *alias into *member, refusing both at once with serde's
// "duplicate field" text naming the member.
func resolveRaw(member, alias *json.RawMessage, name string) error {
	if *alias == nil {
		return nil
	}
	if *member != nil {
		return &Error{Kind: KindBadInput, Message: "Format error in JSON body: duplicate field `" + name + "`"}
	}
	*member, *alias = *alias, nil
	return nil
}

// ResolveAliases implements AliasResolver.
func (r *CreateCollection) ResolveAliases() error {
	if err := resolveRaw(&r.OptimizersConfig, &r.OptimizerConfig, "optimizers_config"); err != nil {
		return err
	}
	return resolveRaw(&r.QuantizationConfig, &r.Quantization, "quantization_config")
}

// ResolveAliases implements AliasResolver.
func (r *GetPoints) ResolveAliases() error { return resolveWithVectors(&r.WithVector, &r.WithVectors) }

// ResolveAliases implements AliasResolver.
func (r *ScrollRequest) ResolveAliases() error {
	return resolveWithVectors(&r.WithVector, &r.WithVectors)
}

// ResolveAliases implements AliasResolver.
func (r *QueryRequest) ResolveAliases() error {
	return resolveWithVectors(&r.WithVector, &r.WithVectors)
}

// ResolveAliases implements AliasResolver.
func (r *SearchRequest) ResolveAliases() error {
	return resolveWithVectors(&r.WithVector, &r.WithVectors)
}

// ResolveAliases implements AliasResolver.
func (r *RecommendRequest) ResolveAliases() error {
	return resolveWithVectors(&r.WithVector, &r.WithVectors)
}

// ResolveAliases implements AliasResolver.
func (r *DiscoverRequest) ResolveAliases() error {
	return resolveWithVectors(&r.WithVector, &r.WithVectors)
}
