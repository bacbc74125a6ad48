package remote

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/shoal-db/shoal/internal/shard"
)

// ApplyRequest, the write a coordinator forwards to a shard's primary
// (and the Check before it), travels in a binary layout too: a write's
// vectors are most of its bytes, and JSON spells every component in
// decimal. Version 1:
//
//	byte     version (1)
//	uvarint  len(target JSON), then the Target as JSON
//	         the rest: the operation in the op log's binary layout with
//	         every vector inline (shard.AppendOperation)
const applyWireVersion = 1

var errApplyWire = errors.New("remote: malformed apply request")

// WireSize implements p2p.WireAppender.
func (m *ApplyRequest) WireSize() int {
	return 64 + len(m.Target.Collection) + shard.OperationSize(m.Op)
}

// AppendWire implements p2p.WireAppender.
func (m *ApplyRequest) AppendWire(b []byte) ([]byte, error) {
	t, err := json.Marshal(m.Target)
	if err != nil {
		return nil, err
	}
	b = append(b, applyWireVersion)
	b = binary.AppendUvarint(b, uint64(len(t)))
	b = append(b, t...)
	return shard.AppendOperation(b, m.Op)
}

// UnmarshalWireBorrowed implements p2p.WireBorrower: the request keeps no
// slice of data.
func (m *ApplyRequest) UnmarshalWireBorrowed(data []byte) error {
	if len(data) < 1 || data[0] != applyWireVersion {
		return fmt.Errorf("%w: unknown version", errApplyWire)
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n > uint64(len(data)-1-k) {
		return errApplyWire
	}
	t := data[1+k : 1+k+int(n)]
	if err := json.Unmarshal(t, &m.Target); err != nil {
		return fmt.Errorf("%w: %v", errApplyWire, err)
	}
	op, err := shard.DecodeOperation(data[1+k+int(n):])
	if err != nil {
		return fmt.Errorf("%w: %v", errApplyWire, err)
	}
	m.Op = op
	return nil
}
