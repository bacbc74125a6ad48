package api

import "strconv"

func appendFloat(buf []byte, f float64, bits int) []byte {
	return strconv.AppendFloat(buf, f, 'g', -1, bits)
}
