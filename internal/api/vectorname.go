package api

// CreateVectorName is the body of PUT /collections/{c}/vectors/{name}
// (Qdrant's VectorNameConfig): exactly one of Dense and Sparse. Only the
// properties that define the vector space are given; index and storage
// settings follow the collection's.
type CreateVectorName struct {
	Dense  *DenseVectorConfig  `json:"dense,omitempty"`
	Sparse *SparseVectorConfig `json:"sparse,omitempty"`
}

// DenseVectorConfig defines a new dense (or multi-) vector.
type DenseVectorConfig struct {
	Size              int                `json:"size"`
	Distance          Distance           `json:"distance"`
	MultivectorConfig *MultiVectorConfig `json:"multivector_config,omitempty"`
	Datatype          *string            `json:"datatype,omitempty"`
}

// SparseVectorConfig defines a new sparse vector.
type SparseVectorConfig struct {
	Modifier *SparseModifier `json:"modifier,omitempty"`
	Datatype *string         `json:"datatype,omitempty"`
}

// Params returns the dense or sparse params the request defines, or a
// bad-input error when it defines neither or both.
func (c *CreateVectorName) Params() (*VectorParams, *SparseVectorParams, error) {
	switch {
	case c == nil || (c.Dense == nil) == (c.Sparse == nil):
		return nil, nil, ErrBadInput("vector config must be exactly one of dense and sparse")
	case c.Dense != nil:
		d := c.Dense
		return &VectorParams{Size: d.Size, Distance: d.Distance, MultivectorConfig: d.MultivectorConfig, Datatype: d.Datatype}, nil, nil
	}
	s := c.Sparse
	p := &SparseVectorParams{Modifier: s.Modifier}
	if s.Datatype != nil {
		p.Index = &SparseIndexParams{Datatype: s.Datatype}
	}
	return nil, p, nil
}
