using System.Text;
using DetKafka.Core.Records;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Records;

public class Crc32CTests
{
    [Fact]
    public void Known_vectors()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
        // RFC 3720 (iSCSI) appendix B.4.
        Assert.Equal(0x8A9136AAu, Crc32C.Compute(new byte[32]));
        Assert.Equal(0x62A8AB43u, Crc32C.Compute(Enumerable.Repeat((byte)0xFF, 32).ToArray()));
        Assert.Equal(0x46DD794Eu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray()));
        Assert.Equal(0x113FDB5Cu, Crc32C.Compute(Enumerable.Range(0, 32).Select(i => (byte)(31 - i)).ToArray()));
    }

    /// <summary>Bit-at-a-time reference with the reflected Castagnoli polynomial.</summary>
    private static uint Reference(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int i = 0; i < 8; i++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    [Fact]
    public void Matches_reference_and_composes()
    {
        var arb = Arb.From(Gen.Choose(0, 200).SelectMany(n => Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i), n))
            .SelectMany(bytes => Gen.Choose(0, bytes.Length).Select(split => (bytes, split))));
        Prop.ForAll(arb, t =>
        {
            var (bytes, split) = t;
            uint whole = Crc32C.Compute(bytes);
            return whole == Reference(bytes)
                   && Crc32C.Append(Crc32C.Compute(bytes.AsSpan(0, split)), bytes.AsSpan(split)) == whole;
        }).QuickCheckThrowOnFailure();
    }
}
