package bench

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// A small line-chart writer for the cost curves: panels of lines over shared axes, drawn with the
// standard library's image packages and x/image's 7x13 bitmap font.

type plotSeries struct {
	Name  string
	X, Y  []float64
	Color color.RGBA
}

type plotPanel struct {
	Title, XLabel, YLabel string
	LogX                  bool
	Series                []plotSeries
}

var plotColors = []color.RGBA{{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}}

const (
	panelW, panelH = 400, 270
	// margins inside a panel: left for the y labels, bottom for the x labels, top for the title
	marginL, marginR, marginT, marginB = 56, 16, 40, 40
)

// plotPNG draws the panels, cols to a row, and encodes the image as PNG.
func plotPNG(panels []plotPanel, cols int) ([]byte, error) {
	rows := (len(panels) + cols - 1) / cols
	img := image.NewRGBA(image.Rect(0, 0, cols*panelW, rows*panelH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, p := range panels {
		drawPanel(img, image.Rect((i%cols)*panelW, (i/cols)*panelH, (i%cols+1)*panelW, (i/cols+1)*panelH), p)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writePNG(path string, panels []plotPanel, cols int) error {
	b, err := plotPNG(panels, cols)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

var (
	black = color.RGBA{0, 0, 0, 0xff}
	grey  = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
)

func drawPanel(img *image.RGBA, r image.Rectangle, p plotPanel) {
	plot := image.Rect(r.Min.X+marginL, r.Min.Y+marginT, r.Max.X-marginR, r.Max.Y-marginB)
	drawText(img, r.Min.X+8, r.Min.Y+16, p.Title, black)
	// the data's range; y starts at 0, x at the first point (on a log axis) or 0
	xmin, xmax, ymax := math.Inf(1), math.Inf(-1), 0.0
	var xs []float64
	for _, s := range p.Series {
		for i, x := range s.X {
			if math.IsNaN(s.Y[i]) || p.LogX && x <= 0 {
				continue
			}
			xmin, xmax, ymax = math.Min(xmin, x), math.Max(xmax, x), math.Max(ymax, s.Y[i])
			xs = append(xs, x)
		}
	}
	if len(xs) == 0 {
		drawText(img, plot.Min.X+10, plot.Min.Y+20, "not measured", black)
		return
	}
	if !p.LogX {
		xmin = 0
	}
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ytop := niceCeil(ymax)
	fx := func(x float64) int {
		t := (x - xmin) / (xmax - xmin)
		if p.LogX {
			t = 0.5
			if xmax > xmin {
				t = math.Log(x/xmin) / math.Log(xmax/xmin)
			}
		}
		return plot.Min.X + int(math.Round(t*float64(plot.Dx())))
	}
	fy := func(y float64) int { return plot.Max.Y - int(math.Round(y/ytop*float64(plot.Dy()))) }
	// grid and y ticks: 0, ⅕ … of the top
	for i := 0; i <= 5; i++ {
		v := ytop * float64(i) / 5
		y := fy(v)
		hline(img, plot.Min.X, plot.Max.X, y, grey)
		l := shortNum(v)
		drawText(img, plot.Min.X-6-7*len(l), y+4, l, black)
	}
	// x ticks at the data's points, labelled where the label does not run into the one before
	slices.Sort(xs)
	lastEnd := math.MinInt
	for _, x := range xs {
		px := fx(x)
		vline(img, px, plot.Max.Y, plot.Max.Y+4, black)
		l := shortNum(x)
		if lx := px - 7*len(l)/2; lx > lastEnd+6 {
			drawText(img, lx, plot.Max.Y+16, l, black)
			lastEnd = lx + 7*len(l)
		}
	}
	hline(img, plot.Min.X, plot.Max.X, plot.Max.Y, black)
	vline(img, plot.Min.X, plot.Min.Y, plot.Max.Y, black)
	drawText(img, plot.Min.X+plot.Dx()/2-7*len(p.XLabel)/2, r.Max.Y-8, p.XLabel, black)
	drawText(img, r.Min.X+8, r.Min.Y+32, p.YLabel, black)
	// the first series last, on top of the others
	for si := len(p.Series) - 1; si >= 0; si-- {
		s := p.Series[si]
		prev := image.Point{-1, -1}
		for i, x := range s.X {
			if math.IsNaN(s.Y[i]) || p.LogX && x <= 0 {
				continue
			}
			pt := image.Pt(fx(x), fy(s.Y[i]))
			if prev.X >= 0 {
				line(img, prev, pt, s.Color)
			}
			fill(img, image.Rect(pt.X-3, pt.Y-3, pt.X+4, pt.Y+4), s.Color)
			prev = pt
		}
		if len(p.Series) > 1 || s.Name != "" {
			lx := plot.Min.X + 8
			ly := plot.Min.Y + 14 + 14*si
			fill(img, image.Rect(lx, ly-7, lx+10, ly+1), s.Color)
			drawText(img, lx+14, ly, s.Name, black)
		}
	}
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (1 for 0 or less): a fifth of it is a round number.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// shortNum writes an axis label with at most 3 significant digits: 1,500 → 1.5k, 1,699.3 → 1.7k, 0.4 → 0.4.
func shortNum(v float64) string {
	suffix := ""
	if math.Abs(v) >= 1000 {
		v, suffix = v/1000, "k"
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 3, 64), 64)
	if math.Abs(v) >= 100 {
		r = math.Round(v)
	}
	return strconv.FormatFloat(r, 'f', -1, 64) + suffix
}

func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r.Intersect(img.Bounds()), image.NewUniform(c), image.Point{}, draw.Src)
}

func hline(img *image.RGBA, x0, x1, y int, c color.RGBA) { fill(img, image.Rect(x0, y, x1+1, y+1), c) }
func vline(img *image.RGBA, x, y0, y1 int, c color.RGBA) { fill(img, image.Rect(x, y0, x+1, y1+1), c) }

// line draws a 2-pixel line from a to b.
func line(img *image.RGBA, a, b image.Point, c color.RGBA) {
	n := max(abs(b.X-a.X), abs(b.Y-a.Y), 1)
	for i := 0; i <= n; i++ {
		x := a.X + (b.X-a.X)*i/n
		y := a.Y + (b.Y-a.Y)*i/n
		fill(img, image.Rect(x, y, x+2, y+2), c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
