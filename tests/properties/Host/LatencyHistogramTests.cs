using DetKafka.Host.Perf;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using FsCheckCheck = FsCheck.Check;

namespace DetKafka.Properties.Host;

public class LatencyHistogramTests
{
    private static readonly double[] Percentiles = [0, 1, 50, 90, 95, 99, 99.9, 99.99, 100];

    /// <summary>The nearest-rank percentile of a sorted list: the smallest value with at least p% of the values at
    /// or below it.</summary>
    private static long Exact(long[] sorted, double percentile)
    {
        long rank = LatencyHistogram.RankOf(percentile, sorted.Length);
        return sorted[rank - 1];
    }

    [Fact]
    public void Small_values_are_exact_and_percentiles_follow_the_nearest_rank_rule()
    {
        var h = new LatencyHistogram();
        for (long v = 1; v <= 1000; v++) h.Record(v);
        Assert.Equal(1000, h.Count);
        Assert.Equal(500, h.ValueAtPercentile(50));
        Assert.Equal(990, h.ValueAtPercentile(99));
        Assert.Equal(999, h.ValueAtPercentile(99.9));
        Assert.Equal(1000, h.ValueAtPercentile(100));
        Assert.Equal(1, h.ValueAtPercentile(0));
        Assert.Equal(1, h.Min);
        Assert.Equal(1000, h.Max);
        Assert.Equal(500.5, h.Mean);
    }

    [Fact]
    public void A_known_spread_of_latencies_reports_its_percentiles_within_a_tenth_of_a_percent()
    {
        // 100,000 latencies of 1 us .. 100 ms in 1 us steps (nanoseconds), then one 2-second outlier.
        var h = new LatencyHistogram();
        for (long us = 1; us <= 100_000; us++) h.Record(us * 1000);
        h.Record(2_000_000_000);
        void Near(long expected, long actual)
        {
            Assert.InRange(actual, expected, expected + expected / 1024);
        }
        Near(50_001_000, h.ValueAtPercentile(50)); // rank 50,001 of 100,001
        Near(99_001_000, h.ValueAtPercentile(99)); // rank 99,001
        Near(99_901_000, h.ValueAtPercentile(99.9));
        Assert.Equal(2_000_000_000, h.ValueAtPercentile(100));
        Assert.Equal(2_000_000_000, h.Max);
        Assert.Equal(1000, h.Min);
    }

    [Fact]
    public void Percentiles_of_random_values_are_never_below_the_exact_one_nor_above_its_bucket()
    {
        var values = Gen.Frequency(
            (3, Gen.Choose(0, 5000).Select(i => (long)i)),
            (3, Gen.Choose(0, int.MaxValue).Select(i => (long)i)),
            (1, Gen.Choose(0, int.MaxValue).Select(i => (long)i << 10)));
        var lists = Gen.Choose(1, 400).SelectMany(n => Gen.ArrayOf(values, n));
        FsCheckCheck.One(Config.QuickThrowOnFailure.WithMaxTest(200), Prop.ForAll(Arb.From(lists), (long[] input) =>
        {
            var h = new LatencyHistogram();
            foreach (var v in input) h.Record(v);
            var sorted = input.OrderBy(v => v).ToArray();
            Assert.Equal(sorted.Length, h.Count);
            Assert.Equal(sorted[0], h.Min);
            Assert.Equal(sorted[^1], h.Max);
            Assert.Equal(sorted.Sum(), h.Sum);
            foreach (var p in Percentiles)
            {
                long exact = Exact(sorted, p);
                long reported = h.ValueAtPercentile(p);
                long bucketTop = LatencyHistogram.HighestEquivalentValue(LatencyHistogram.IndexOf(exact));
                Assert.InRange(reported, exact, Math.Min(bucketTop, sorted[^1]));
                Assert.True(reported - exact <= exact / 1024, $"p{p}: {reported} vs exact {exact}");
            }
        }));
    }

    [Fact]
    public void Merging_equals_recording_everything_in_one()
    {
        var lists = Gen.ArrayOf(Gen.Choose(0, int.MaxValue).Select(i => (long)i * 3));
        FsCheckCheck.One(Config.QuickThrowOnFailure.WithMaxTest(100), Prop.ForAll(Arb.From(Gen.Two(lists)), ((long[] A, long[] B) input) =>
        {
            var a = new LatencyHistogram();
            var b = new LatencyHistogram();
            var all = new LatencyHistogram();
            foreach (var v in input.A) { a.Record(v); all.Record(v); }
            foreach (var v in input.B) { b.Record(v); all.Record(v); }
            a.Add(b);
            Assert.Equal(all.Count, a.Count);
            Assert.Equal(all.Sum, a.Sum);
            Assert.Equal(all.Min, a.Min);
            Assert.Equal(all.Max, a.Max);
            foreach (var p in Percentiles) Assert.Equal(all.ValueAtPercentile(p), a.ValueAtPercentile(p));
        }));
    }

    [Fact]
    public void Buckets_tile_the_range_without_gaps_or_overlaps()
    {
        int last = LatencyHistogram.IndexOf(1L << 42);
        for (int i = 1; i <= last; i++)
        {
            Assert.Equal(LatencyHistogram.HighestEquivalentValue(i - 1) + 1, LatencyHistogram.LowestEquivalentValue(i));
            Assert.Equal(i, LatencyHistogram.IndexOf(LatencyHistogram.LowestEquivalentValue(i)));
            Assert.Equal(i, LatencyHistogram.IndexOf(LatencyHistogram.HighestEquivalentValue(i)));
        }
    }

    [Fact]
    public void Recording_allocates_nothing()
    {
        var h = new LatencyHistogram();
        h.Record(1);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (long v = 0; v < 100_000; v++) h.Record(v * 7919, 1 + (v & 3));
        _ = h.ValueAtPercentile(99.9);
        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
