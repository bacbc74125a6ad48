package filter

import (
	"sort"
	"strings"

	"github.com/shoal-db/shoal/internal/api"
)

// stopwordLanguages lists every language Qdrant's text index accepts for
// its stopwords (the OpenAPI Language enum); the value is the list shipped
// with Shoal, empty for a language Shoal does not ship a list for.
//
// The lists below were written for Shoal: the most frequent function words
// (articles, pronouns, auxiliaries, prepositions, conjunctions) of each
// language, lowercase.
var stopwordLanguages = map[string]string{
	"arabic": "", "azerbaijani": "", "basque": "", "bengali": "", "catalan": "",
	"chinese": "", "danish": "", "dutch": "", "english": englishStopwords,
	"finnish": "", "french": frenchStopwords, "german": germanStopwords,
	"greek": "", "hebrew": "", "hinglish": "", "hungarian": "", "indonesian": "",
	"italian": "", "japanese": "", "kazakh": "", "nepali": "", "norwegian": "",
	"portuguese": "", "romanian": "", "russian": "", "slovene": "",
	"spanish": spanishStopwords, "swedish": "", "tajik": "", "turkish": "",
}

// shippedStopwordLanguages returns the languages with a shipped list,
// sorted.
func shippedStopwordLanguages() []string {
	var out []string
	for lang, words := range stopwordLanguages {
		if words != "" {
			out = append(out, lang)
		}
	}
	sort.Strings(out)
	return out
}

// addStopwords adds the shipped list of lang to set. It returns a
// bad-input error naming the language when lang is not one of Qdrant's
// stopword languages or when Shoal ships no list for it.
func addStopwords(set map[string]struct{}, lang string) error {
	words, known := stopwordLanguages[lang]
	if !known {
		return api.ErrBadInput("stopwords: unknown language %q", lang)
	}
	if words == "" {
		return api.ErrBadInput("stopwords: the %q list is not available on this server (available: %s)",
			lang, strings.Join(shippedStopwordLanguages(), ", "))
	}
	for _, w := range strings.Fields(words) {
		set[w] = struct{}{}
	}
	return nil
}

const englishStopwords = `
a about above after again against all am an and any are aren't as at
be because been before being below between both but by
can can't cannot could couldn't
did didn't do does doesn't doing don't down during
each few for from further
had hadn't has hasn't have haven't having he he'd he'll he's her here here's
hers herself him himself his how how's
i i'd i'll i'm i've if in into is isn't it it's its itself
let's me more most mustn't my myself
no nor not of off on once only or other ought our ours ourselves out over own
same shan't she she'd she'll she's should shouldn't so some such
than that that's the their theirs them themselves then there there's these
they they'd they'll they're they've this those through to too
under until up very
was wasn't we we'd we'll we're we've were weren't what what's when when's
where where's which while who who's whom why why's will with won't would
wouldn't you you'd you'll you're you've your yours yourself yourselves
s t d ll m o re ve y just now ain aren couldn didn doesn don hadn hasn haven
isn mightn mustn needn shan shouldn wasn weren won wouldn
`

const frenchStopwords = `
au aux avec ce ces dans de des du elle en et eux il ils je la le les leur
leurs lui ma mais me même mes moi mon ne nos notre nous on ou où par pas pour
qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous c d
j l m n s t y été étée étées étés étant suis es est sommes êtes sont serai
seras sera serons serez seront serais serait serions seriez seraient étais
était étions étiez étaient fus fut fûmes fûtes furent sois soit soyons soyez
soient ai as avons avez ont aurai auras aura aurons aurez auront aurais
aurait aurions auriez auraient avais avait avions aviez avaient eut eûmes
eûtes eurent aie aies ait ayons ayez aient ceci cela celà cet cette ici quel quels quelle quelles sans soi
`

const germanStopwords = `
aber alle allem allen aller alles als also am an ander andere anderem anderen
anderer anderes anderm andern anderr anders auch auf aus bei bin bis bist da
damit dann der den des dem die das dass daß du er sie es ein eine einem einen
einer eines euch euer eure ich ihr ihre ihrem ihren ihrer ihres im in ist
jede jedem jeden jeder jedes kein keine keinem keinen keiner keines mein
meine meinem meinen meiner meines mich mir mit nach nicht noch nun nur ob
oder ohne sein seine seinem seinen seiner seines selbst sich sind so solche
soll sollte sondern sonst über um und uns unser unsere unter viel vom von
vor war waren warst was weg weil weiter welche welchem welchen welcher
welches wenn werde werden wie wieder will wir wird wirst wo wollen wollte
würde würden zu zum zur zwar zwischen habe haben hat hatte hatten hier hin
hinter ins jetzt man manche mancher mehr muss musste können könnte durch
einig einige einigem einigen einiger einiges doch dies diese diesem diesen
dieser dieses dort etwas gegen gewesen
`

const spanishStopwords = `
a al algo algunas algunos ante antes como con contra cual cuando de del desde
donde durante e el él ella ellas ellos en entre era erais eran eras eres es
esa esas ese eso esos esta estaba estaban estado estáis estamos están estar
estas este esto estos estoy fue fueron fui fuimos ha habéis haber había
habían han has hasta hay he la las le les lo los me mi mí mis mucho muchos
muy más nada ni no nos nosotras nosotros nuestra nuestras nuestro nuestros
o os otra otras otro otros para pero poco por porque que qué quien quienes
se sea sean ser si sí sido siendo sin sobre sois somos son soy su sus suya
suyas suyo suyos también tanto te tenemos tener tengo ti tiene tienen todo
todos tu tú tus un una uno unos vosotras vosotros vuestra vuestras vuestro
vuestros y ya yo
`
