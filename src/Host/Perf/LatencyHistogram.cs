using System.Numerics;

namespace DetKafka.Host.Perf;

/// <summary>
/// A log-bucketed latency histogram in the manner of HdrHistogram: values below 2^<see cref="SubBucketBits"/>
/// are counted exactly; above, each power-of-two range is split into 2^(<see cref="SubBucketBits"/>-1) equal
/// buckets, so a value is known to within 1/1024 of itself (three significant digits). Recording is an index
/// computation and an increment: no allocation, no lock (one owner thread; <see cref="Add"/> merges).
/// Values are unitless longs; the load generator records nanoseconds.
/// </summary>
public sealed class LatencyHistogram
{
    public const int SubBucketBits = 11;
    private readonly long[] _counts;

    /// <param name="highestTrackableValue">Larger values are counted as this value (max still reports the true
    /// largest). The default, 2^42, is 73 minutes in nanoseconds.</param>
    public LatencyHistogram(long highestTrackableValue = 1L << 42)
    {
        if (highestTrackableValue < 1) throw new ArgumentOutOfRangeException(nameof(highestTrackableValue));
        HighestTrackableValue = highestTrackableValue;
        _counts = new long[IndexOf(highestTrackableValue) + 1];
    }

    public long HighestTrackableValue { get; }
    public long Count { get; private set; }
    public long Sum { get; private set; }

    /// <summary>The exact smallest and largest values recorded; 0 when empty.</summary>
    public long Min { get; private set; }
    public long Max { get; private set; }

    public double Mean => Count == 0 ? 0 : (double)Sum / Count;

    /// <summary>Records <paramref name="count"/> occurrences of <paramref name="value"/> (negative values count as 0).</summary>
    public void Record(long value, long count = 1)
    {
        if (count <= 0) return;
        if (value < 0) value = 0;
        if (Count == 0 || value < Min) Min = value;
        if (value > Max) Max = value;
        _counts[IndexOf(Math.Min(value, HighestTrackableValue))] += count;
        Count += count;
        Sum += value * count;
    }

    /// <summary>Adds every count of <paramref name="other"/> (same trackable range) into this one.</summary>
    public void Add(LatencyHistogram other)
    {
        if (other._counts.Length != _counts.Length) throw new ArgumentException("histograms of different ranges");
        if (other.Count == 0) return;
        for (int i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
        if (Count == 0 || other.Min < Min) Min = other.Min;
        Max = Math.Max(Max, other.Max);
        Count += other.Count;
        Sum += other.Sum;
    }

    /// <summary>Samples in the buckets whose values are all at or below <paramref name="value"/> (a bucket straddling it
    /// is left out, so this is never more than the exact count).</summary>
    public long CountAtOrBelow(long value)
    {
        long n = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            if (HighestEquivalentValue(i) > value) break;
            n += _counts[i];
        }
        return n;
    }

    public void Reset()
    {
        Array.Clear(_counts);
        Count = Sum = Min = Max = 0;
    }

    /// <summary>
    /// The value at <paramref name="percentile"/> (0-100) by the nearest-rank rule: the smallest recorded value
    /// that at least that share of all values do not exceed, reported as the highest value of its bucket (never
    /// above <see cref="Max"/>). So it is never below the exact percentile and at most 1/1024 above it.
    /// </summary>
    public long ValueAtPercentile(double percentile)
    {
        if (Count == 0) return 0;
        long rank = RankOf(percentile, Count);
        long seen = 0;
        for (int i = 0; i < _counts.Length; i++)
        {
            seen += _counts[i];
            if (seen >= rank) return Math.Min(HighestEquivalentValue(i), Max);
        }
        return Max;
    }

    /// <summary>1-based nearest rank: ceil(p/100 * n), at least 1. Computed on integers (parts per million)
    /// so 99.9 of 1,000 is rank 999, not 1,000 through floating-point error.</summary>
    public static long RankOf(double percentile, long count)
    {
        if (percentile is < 0 or > 100 || double.IsNaN(percentile)) throw new ArgumentOutOfRangeException(nameof(percentile));
        long ppm = (long)Math.Round(percentile * 10_000);
        var (quotient, remainder) = Int128.DivRem((Int128)ppm * count, 1_000_000);
        return Math.Max(1, (long)quotient + (remainder == 0 ? 0 : 1));
    }

    /// <summary>The bucket of a value: exact below 2^SubBucketBits; above, the power of two and the top
    /// SubBucketBits bits.</summary>
    public static int IndexOf(long value)
    {
        if (value < 1L << SubBucketBits) return (int)value;
        int msb = 63 - BitOperations.LeadingZeroCount((ulong)value);
        int shift = msb - SubBucketBits + 1;
        return (shift << (SubBucketBits - 1)) + (int)(value >> shift);
    }

    /// <summary>The smallest value that falls in bucket <paramref name="index"/>.</summary>
    public static long LowestEquivalentValue(int index)
    {
        if (index < 1 << SubBucketBits) return index;
        int shift = (index >> (SubBucketBits - 1)) - 1;
        long mantissa = index - ((long)shift << (SubBucketBits - 1));
        return mantissa << shift;
    }

    /// <summary>The largest value that falls in bucket <paramref name="index"/>.</summary>
    public static long HighestEquivalentValue(int index)
    {
        if (index < 1 << SubBucketBits) return index;
        int shift = (index >> (SubBucketBits - 1)) - 1;
        long mantissa = index - ((long)shift << (SubBucketBits - 1));
        return ((mantissa + 1) << shift) - 1;
    }
}
