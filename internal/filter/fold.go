package filter

import (
	"strings"
	"unicode/utf8"
)

// asciiFolds maps each ASCII replacement to the accented or special Latin
// letters folded to it (Latin-1 Supplement, Latin Extended-A and the common
// letters of Latin Extended-B and Latin Extended Additional).
var asciiFolds = map[string]string{
	"A":  "ÀÁÂÃÄÅĀĂĄǍǞǠǺȀȂȦȺḀẠẢẤẦẨẪẬẮẰẲẴẶ",
	"a":  "àáâãäåāăąǎǟǡǻȁȃȧḁạảấầẩẫậắằẳẵặ",
	"AE": "ÆǢǼ",
	"ae": "æǣǽ",
	"B":  "ƁƂḂḄḆ",
	"b":  "ƀƃɓḃḅḇ",
	"C":  "ÇĆĈĊČƇȻḈ",
	"c":  "çćĉċčƈȼḉ",
	"D":  "ÐĎĐƉƊḊḌḎḐḒ",
	"d":  "ðďđɖɗḋḍḏḑḓ",
	"E":  "ÈÉÊËĒĔĖĘĚȄȆȨɆḔḖḘḚḜẸẺẼẾỀỂỄỆ",
	"e":  "èéêëēĕėęěȅȇȩɇḕḗḙḛḝẹẻẽếềểễệ",
	"F":  "ƑḞ",
	"f":  "ƒḟ",
	"G":  "ĜĞĠĢƓǤǦǴḠ",
	"g":  "ĝğġģɠǥǧǵḡ",
	"H":  "ĤĦȞḢḤḦḨḪ",
	"h":  "ĥħȟḣḥḧḩḫẖ",
	"I":  "ÌÍÎÏĨĪĬĮİƗǏȈȊḬḮỈỊ",
	"i":  "ìíîïĩīĭįıɨǐȉȋḭḯỉị",
	"IJ": "Ĳ",
	"ij": "ĳ",
	"J":  "ĴɈ",
	"j":  "ĵǰɉ",
	"K":  "ĶƘǨḰḲḴ",
	"k":  "ķĸƙǩḱḳḵ",
	"L":  "ĹĻĽĿŁȽḶḸḺḼ",
	"l":  "ĺļľŀłƚḷḹḻḽ",
	"M":  "ḾṀṂ",
	"m":  "ḿṁṃ",
	"N":  "ÑŃŅŇŊƝǸȠṄṆṈṊ",
	"n":  "ñńņňŉŋɲǹƞṅṇṉṋ",
	"O":  "ÒÓÔÕÖØŌŎŐƟƠǑǪǬǾȌȎȪȬȮȰṌṎṐṒỌỎỐỒỔỖỘỚỜỞỠỢ",
	"o":  "òóôõöøōŏőɵơǒǫǭǿȍȏȫȭȯȱṍṏṑṓọỏốồổỗộớờởỡợ",
	"OE": "Œ",
	"oe": "œ",
	"P":  "ƤṔṖ",
	"p":  "ƥṕṗ",
	"R":  "ŔŖŘȐȒɌṘṚṜṞ",
	"r":  "ŕŗřȑȓɍṙṛṝṟ",
	"S":  "ŚŜŞŠȘṠṢṤṦṨ",
	"s":  "śŝşšșſṡṣṥṧṩ",
	"ss": "ß",
	"T":  "ŢŤŦƬƮȚȾṪṬṮṰ",
	"t":  "ţťŧƫƭțṫṭṯṱẗ",
	"TH": "Þ",
	"th": "þ",
	"U":  "ÙÚÛÜŨŪŬŮŰŲƯǓǕǗǙǛȔȖɄṲṴṶṸṺỤỦỨỪỬỮỰ",
	"u":  "ùúûüũūŭůűųưǔǖǘǚǜȕȗʉṳṵṷṹṻụủứừửữự",
	"V":  "ƲṼṾ",
	"v":  "ʋṽṿ",
	"W":  "ŴẀẂẄẆẈ",
	"w":  "ŵẁẃẅẇẉẘ",
	"X":  "ẊẌ",
	"x":  "ẋẍ",
	"Y":  "ÝŶŸƳȲɎẎỲỴỶỸ",
	"y":  "ýÿŷƴȳɏẏẙỳỵỷỹ",
	"Z":  "ŹŻŽƵȤẐẒẔ",
	"z":  "źżžƶȥẑẓẕ",
}

// asciiFoldTable is asciiFolds by letter, built once.
var asciiFoldTable = func() map[rune]string {
	t := map[rune]string{}
	for repl, letters := range asciiFolds {
		for _, r := range letters {
			t[r] = repl
		}
	}
	return t
}()

// foldASCII replaces the accented and special Latin letters of s by their
// ASCII equivalents ("ação" → "acao", "straße" → "strasse"); other
// characters are kept.
func foldASCII(s string) string {
	i := 0
	for i < len(s) && s[i] < utf8.RuneSelf {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if repl, ok := asciiFoldTable[r]; ok {
			b.WriteString(repl)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}
