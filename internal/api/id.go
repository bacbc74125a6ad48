package api

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"

	"github.com/google/uuid"
)

// PointID is Qdrant's ExtendedPointId: an unsigned 64-bit integer or a UUID.
// The zero value is the integer 0.
type PointID struct {
	Num    uint64
	UUID   uuid.UUID
	IsUUID bool
}

// NumID returns an integer id.
func NumID(n uint64) PointID { return PointID{Num: n} }

// UUIDID returns a UUID id.
func UUIDID(u uuid.UUID) PointID { return PointID{UUID: u, IsUUID: true} }

// ParsePointID parses s as an unsigned integer or a UUID (any form uuid.Parse
// accepts), as Qdrant does for ids in URL paths.
func ParsePointID(s string) (PointID, error) {
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return NumID(n), nil
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return PointID{}, ErrBadInput("Unable to parse point id %q: expected an unsigned integer or a UUID", s)
	}
	return UUIDID(u), nil
}

// ParseUUIDID parses a point id given as a UUID string (REST's string ids,
// gRPC's uuid ids), with Qdrant's error text.
func ParseUUIDID(s string) (PointID, error) {
	u, err := uuid.Parse(s)
	if err != nil {
		return PointID{}, ErrBadInput("Unable to parse UUID: %s", s)
	}
	return UUIDID(u), nil
}

// String returns the decimal integer or the hyphenated lower-case UUID.
func (id PointID) String() string {
	if id.IsUUID {
		return id.UUID.String()
	}
	return strconv.FormatUint(id.Num, 10)
}

// Key returns the id's order-preserving binary key: 0x00 + 8 big-endian bytes
// for integers, 0x01 + 16 bytes for UUIDs. Integers sort before UUIDs, as in
// Qdrant's scroll order.
func (id PointID) Key() []byte {
	if id.IsUUID {
		k := make([]byte, 17)
		k[0] = 1
		copy(k[1:], id.UUID[:])
		return k
	}
	k := make([]byte, 9)
	binary.BigEndian.PutUint64(k[1:], id.Num)
	return k
}

// PointIDFromKey decodes a key made by Key.
func PointIDFromKey(k []byte) (PointID, bool) {
	switch {
	case len(k) == 9 && k[0] == 0:
		return NumID(binary.BigEndian.Uint64(k[1:])), true
	case len(k) == 17 && k[0] == 1:
		var u uuid.UUID
		copy(u[:], k[1:])
		return UUIDID(u), true
	}
	return PointID{}, false
}

// Compare orders ids as their keys do.
func (id PointID) Compare(o PointID) int { return bytes.Compare(id.Key(), o.Key()) }

// MarshalJSON writes a number or a UUID string.
func (id PointID) MarshalJSON() ([]byte, error) {
	if id.IsUUID {
		return []byte(`"` + id.UUID.String() + `"`), nil
	}
	return strconv.AppendUint(nil, id.Num, 10), nil
}

// UnmarshalJSON reads a non-negative integer or a UUID string.
func (id *PointID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return ErrBadInput("invalid point id: %v", err)
		}
		u, err := ParseUUIDID(s)
		if err != nil {
			return err
		}
		*id = u
		return nil
	}
	n, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return ErrBadInput("invalid point id %s: expected an unsigned integer or a UUID string", string(b))
	}
	*id = NumID(n)
	return nil
}
