package filter

import "github.com/shoal-db/shoal/internal/api"

// Distance returns the great-circle distance in metres between a and b,
// as geo_radius conditions measure it (formula geo_distance uses it too).
func Distance(a, b api.GeoPoint) float64 { return haversine(a, b) }
