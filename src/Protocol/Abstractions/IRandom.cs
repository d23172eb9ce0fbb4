namespace DetKafka.Core.Abstractions;

/// <summary>The only source of randomness in Core. Always seeded, so a run can be replayed.</summary>
public interface IRandom
{
    ulong NextUInt64();
}

/// <summary>
/// xoshiro256** seeded through SplitMix64: small, fast, and the same sequence on every platform and process.
/// </summary>
public sealed class SeededRandom : IRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public SeededRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix64(ref x);
        _s1 = SplitMix64(ref x);
        _s2 = SplitMix64(ref x);
        _s3 = SplitMix64(ref x);
    }

    private static ulong SplitMix64(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64()
    {
        ulong result = System.Numerics.BitOperations.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = System.Numerics.BitOperations.RotateLeft(_s3, 45);
        return result;
    }
}

public static class RandomExtensions
{
    /// <summary>Uniform in [0, bound) without modulo bias (Lemire's method).</summary>
    public static ulong NextBelow(this IRandom random, ulong bound)
    {
        if (bound == 0) throw new ArgumentOutOfRangeException(nameof(bound));
        ulong x = random.NextUInt64();
        UInt128 m = (UInt128)x * bound;
        ulong low = (ulong)m;
        if (low < bound)
        {
            ulong threshold = (0 - bound) % bound;
            while (low < threshold)
            {
                x = random.NextUInt64();
                m = (UInt128)x * bound;
                low = (ulong)m;
            }
        }
        return (ulong)(m >> 64);
    }

    public static int NextInt(this IRandom random, int minInclusive, int maxExclusive)
    {
        if (maxExclusive <= minInclusive) throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        return minInclusive + (int)random.NextBelow((ulong)((long)maxExclusive - minInclusive));
    }

    /// <summary>Uniform double in [0, 1) from the top 53 bits.</summary>
    public static double NextDouble(this IRandom random) => (random.NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public static bool NextBool(this IRandom random, double probability) => random.NextDouble() < probability;

    /// <summary>A version-4 UUID drawn from the seeded random (cluster ids, topic ids).</summary>
    public static Guid NextUuid(this IRandom random)
    {
        Span<byte> bytes = stackalloc byte[16];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes, random.NextUInt64());
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], random.NextUInt64());
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x40);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }
}
