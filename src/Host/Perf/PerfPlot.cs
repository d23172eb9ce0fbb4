using System.Globalization;
using System.Net;
using System.Text;

namespace DetKafka.Host.Perf;

/// <summary>
/// The run's report intervals as one self-contained HTML page with two inline SVG plots: throughput (records/s)
/// and latency (p50, p99, p99.9, max; logarithmic, since tails span orders of magnitude) over time. No script, no
/// stylesheet or font from elsewhere: the file opens offline and can be attached to an issue as it is.
/// Written next to the CSV (<c>--csv run.csv</c> gives <c>run.html</c>).
/// </summary>
public static class PerfPlot
{
    /// <summary>One report interval. Latencies in ms; NaN when the interval recorded none.</summary>
    public readonly record struct Row(double ElapsedSeconds, double RecordsPerSecond, double MibPerSecond,
        double P50Ms, double P99Ms, double P999Ms, double MaxMs);

    private const int Width = 900, Height = 300, Left = 80, Right = 20, Top = 20, Bottom = 40;

    /// <summary>The CSV's path with the extension .html (never the CSV's own path).</summary>
    public static string PathFor(string csvPath)
    {
        string html = Path.ChangeExtension(csvPath, ".html");
        return html == csvPath ? csvPath + ".html" : html;
    }

    public static string Render(string title, IReadOnlyList<Row> rows)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").Append(WebUtility.HtmlEncode(title))
            .Append("</title></head>\n<body style=\"font-family:sans-serif\">\n<h3>").Append(WebUtility.HtmlEncode(title)).Append("</h3>\n");
        if (rows.Count == 0)
        {
            html.Append("<p>No report interval completed.</p>\n");
        }
        else
        {
            double tMax = Math.Max(rows[^1].ElapsedSeconds, 1e-3);
            double rMax = Math.Max(rows.Max(r => r.RecordsPerSecond), 1);
            html.Append("<p>records/s over time</p>\n");
            Plot(html, rows, tMax, 0, NiceCeiling(rMax), logarithmic: false, "records/s",
                [("records/s", "#1f77b4", r => r.RecordsPerSecond)]);
            var latencies = rows.SelectMany(r => new[] { r.P50Ms, r.P99Ms, r.P999Ms, r.MaxMs }).Where(v => double.IsFinite(v) && v > 0).ToList();
            if (latencies.Count > 0)
            {
                double lo = Math.Pow(10, Math.Floor(Math.Log10(latencies.Min())));
                double hi = Math.Pow(10, Math.Ceiling(Math.Log10(latencies.Max())));
                if (hi <= lo) hi = lo * 10;
                html.Append("<p>latency (ms, logarithmic) per interval: p50, p99, p99.9, max</p>\n");
                Plot(html, rows, tMax, lo, hi, logarithmic: true, "ms",
                [
                    ("p50", "#2ca02c", r => r.P50Ms), ("p99", "#ff7f0e", r => r.P99Ms),
                    ("p99.9", "#d62728", r => r.P999Ms), ("max", "#7f7f7f", r => r.MaxMs),
                ]);
            }
        }
        return html.Append("</body></html>\n").ToString();
    }

    private static void Plot(StringBuilder html, IReadOnlyList<Row> rows, double tMax, double yMin, double yMax, bool logarithmic,
        string unit, (string Name, string Color, Func<Row, double> Value)[] series)
    {
        int plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double X(double t) => Left + t / tMax * plotW;
        double Y(double v)
        {
            double f = logarithmic ? (Math.Log10(v) - Math.Log10(yMin)) / (Math.Log10(yMax) - Math.Log10(yMin)) : (v - yMin) / (yMax - yMin);
            return Top + plotH * (1 - Math.Clamp(f, 0, 1));
        }
        static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

        html.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-size=\"11\">\n");
        html.Append(CultureInfo.InvariantCulture, $"<rect x=\"{Left}\" y=\"{Top}\" width=\"{plotW}\" height=\"{plotH}\" fill=\"none\" stroke=\"#999\"/>\n");
        // y grid: five steps (linear) or one line per power of ten (logarithmic).
        var ticks = new List<double>();
        if (logarithmic) for (double v = yMin; v <= yMax * 1.0001; v *= 10) ticks.Add(v);
        else for (int i = 0; i <= 5; i++) ticks.Add(yMin + (yMax - yMin) * i / 5);
        foreach (var v in ticks)
        {
            double y = Y(v);
            html.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" x2=\"{Left + plotW}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#eee\"/>")
                .Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 4}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{Label(v)}</text>\n");
        }
        for (int i = 0; i <= 5; i++)
        {
            double t = tMax * i / 5;
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{F(X(t))}\" y=\"{Height - Bottom + 15}\" text-anchor=\"middle\">{F(t)} s</text>\n");
        }
        html.Append(CultureInfo.InvariantCulture, $"<text x=\"12\" y=\"{Top + plotH / 2}\" transform=\"rotate(-90 12 {Top + plotH / 2})\" text-anchor=\"middle\">{unit}</text>\n");
        int legendX = Left + 10;
        foreach (var (name, color, value) in series)
        {
            var points = new StringBuilder();
            foreach (var r in rows)
            {
                double v = value(r);
                if (!double.IsFinite(v) || (logarithmic && v <= 0)) continue;
                points.Append(F(X(r.ElapsedSeconds))).Append(',').Append(F(Y(v))).Append(' ');
            }
            html.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{points.ToString().TrimEnd()}\"/>\n");
            html.Append(CultureInfo.InvariantCulture, $"<text x=\"{legendX}\" y=\"{Height - 8}\" fill=\"{color}\">{WebUtility.HtmlEncode(name)}</text>\n");
            legendX += 70;
        }
        html.Append("</svg>\n");
    }

    private static string Label(double v) => v switch
    {
        >= 1e6 => (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M",
        >= 1e3 => (v / 1e3).ToString("0.##", CultureInfo.InvariantCulture) + "k",
        _ => v.ToString("0.###", CultureInfo.InvariantCulture),
    };

    /// <summary>1, 2 or 5 times a power of ten, at or above <paramref name="v"/>.</summary>
    private static double NiceCeiling(double v)
    {
        double p = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (m * p >= v) return m * p;
        return 10 * p;
    }
}
