package meta

import (
	"github.com/shoal-db/shoal/internal/api"
)

// Named-vector commands (Qdrant 1.18+: PUT and DELETE
// /collections/{c}/vectors/{name}). They change only the vector set of a
// collection's configuration; the service opens the collection again with
// it (after a delete has removed the vector from every point).
const (
	TypeCreateVector = "create_vector_name"
	TypeDeleteVector = "delete_vector_name"
)

// VectorChange is the payload of create_vector_name (Name plus exactly one
// of Dense and Sparse) and delete_vector_name (Name).
type VectorChange struct {
	Name   string                  `json:"name"`
	Dense  *api.VectorParams       `json:"dense,omitempty"`
	Sparse *api.SparseVectorParams `json:"sparse,omitempty"`
}

// applyVector applies create_vector_name and delete_vector_name.
func (s *State) applyVector(cmd *Command) error {
	old, ok := s.Collections[cmd.Collection]
	if !ok {
		return api.ErrCollectionNotFound(cmd.Collection)
	}
	v := cmd.Vector
	if v == nil || v.Name == "" {
		return api.ErrBadInput("%s needs a vector name", cmd.Type)
	}
	cfg, err := cloneConfig(old.Config)
	if err != nil {
		return err
	}
	_, dense := cfg.Params.Vectors[v.Name]
	_, sparse := cfg.Params.SparseVectors[v.Name]
	switch cmd.Type {
	case TypeCreateVector:
		if dense || sparse {
			return api.ErrBadInput("Vector with name %s already exists", v.Name)
		}
		switch {
		case v.Dense != nil && v.Sparse == nil:
			if cfg.Params.Vectors == nil {
				cfg.Params.Vectors = api.VectorsConfig{}
			}
			if cfg.Params.Vectors.Unnamed() {
				return api.ErrBadInput("cannot add a named vector to a collection with a single unnamed vector")
			}
			cfg.Params.Vectors[v.Name] = *v.Dense
		case v.Sparse != nil && v.Dense == nil:
			if cfg.Params.SparseVectors == nil {
				cfg.Params.SparseVectors = api.SparseVectorsConfig{}
			}
			cfg.Params.SparseVectors[v.Name] = *v.Sparse
		default:
			return api.ErrBadInput("%s needs exactly one of dense and sparse", cmd.Type)
		}
	case TypeDeleteVector:
		switch {
		case dense:
			delete(cfg.Params.Vectors, v.Name)
		case sparse:
			delete(cfg.Params.SparseVectors, v.Name)
		default:
			return api.ErrBadInput("Not existing vector name error: %s", v.Name)
		}
		if len(cfg.Params.Vectors)+len(cfg.Params.SparseVectors) == 0 {
			return api.ErrBadInput("cannot delete vector %s: it is the collection's last vector", v.Name)
		}
	}
	s.Collections[cmd.Collection] = &Collection{Config: cfg, PayloadIndexes: old.PayloadIndexes, CreatedAt: old.CreatedAt, Generation: old.Generation, Shards: old.Shards}
	return nil
}
