package filter

import (
	"math"

	"github.com/shoal-db/shoal/internal/api"
)

// earthRadius is the mean Earth radius in metres used by Qdrant's haversine
// distance.
const earthRadius = 6371008.8

// haversine returns the great-circle distance between a and b in metres.
func haversine(a, b api.GeoPoint) float64 {
	lat1, lat2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dLat := lat2 - lat1
	dLon := (b.Lon - a.Lon) * math.Pi / 180
	s := math.Sin(dLat/2)*math.Sin(dLat/2) + math.Cos(lat1)*math.Cos(lat2)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadius * math.Asin(math.Min(1, math.Sqrt(s)))
}

// inBox reports whether p lies strictly inside the box; a box whose left
// edge is east of its right edge crosses the antimeridian.
func inBox(b *api.GeoBoundingBox, p api.GeoPoint) bool {
	var lonOK bool
	if b.TopLeft.Lon > b.BottomRight.Lon {
		lonOK = p.Lon > b.TopLeft.Lon || p.Lon < b.BottomRight.Lon
	} else {
		lonOK = b.TopLeft.Lon < p.Lon && p.Lon < b.BottomRight.Lon
	}
	return lonOK && b.BottomRight.Lat < p.Lat && p.Lat < b.TopLeft.Lat
}

// inRadius reports whether p is closer than r.Radius metres to the centre.
func inRadius(r *api.GeoRadius, p api.GeoPoint) bool {
	return haversine(r.Center, p) < r.Radius
}

// ringPosition tells whether p is inside (1), outside (-1) or on (0) the
// closed ring, in planar lon/lat coordinates.
func ringPosition(ring []api.GeoPoint, p api.GeoPoint) int {
	inside := false
	n := len(ring)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := ring[j], ring[i]
		// On the segment?
		cross := (b.Lon-a.Lon)*(p.Lat-a.Lat) - (b.Lat-a.Lat)*(p.Lon-a.Lon)
		if cross == 0 && p.Lon >= math.Min(a.Lon, b.Lon) && p.Lon <= math.Max(a.Lon, b.Lon) &&
			p.Lat >= math.Min(a.Lat, b.Lat) && p.Lat <= math.Max(a.Lat, b.Lat) {
			return 0
		}
		if (a.Lat > p.Lat) != (b.Lat > p.Lat) {
			x := a.Lon + (p.Lat-a.Lat)*(b.Lon-a.Lon)/(b.Lat-a.Lat)
			if p.Lon < x {
				inside = !inside
			}
		}
	}
	if inside {
		return 1
	}
	return -1
}

// inPolygon reports whether p lies in the polygon's interior: strictly inside
// the exterior ring and not inside or on any hole.
func inPolygon(g *api.GeoPolygon, p api.GeoPoint) bool {
	if ringPosition(g.Exterior.Points, p) != 1 {
		return false
	}
	for _, h := range g.Interiors {
		if ringPosition(h.Points, p) >= 0 {
			return false
		}
	}
	return true
}

// geoBox returns a latitude/longitude box containing every point a geo
// condition can match (lon range may be the whole world).
func radiusBox(r *api.GeoRadius) (minLat, maxLat float64) {
	d := r.Radius / earthRadius * 180 / math.Pi
	return r.Center.Lat - d, r.Center.Lat + d
}

func polygonLatRange(g *api.GeoPolygon) (minLat, maxLat float64) {
	minLat, maxLat = math.Inf(1), math.Inf(-1)
	for _, p := range g.Exterior.Points {
		minLat, maxLat = math.Min(minLat, p.Lat), math.Max(maxLat, p.Lat)
	}
	return
}
