using DetKafka.Core.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using FsCheckRunner = FsCheck.Check;

namespace DetKafka.Properties.Protocol;

/// <summary>
/// Encode/decode plumbing and small generators shared by the admin-API codec tests. Every generated message is
/// kept small (a few elements per array, short strings) so each version's property runs in milliseconds.
/// </summary>
internal static class AdminRoundTripHarness
{
    /// <summary>ASCII plus two- and three-byte UTF-8 characters, so byte lengths differ from char counts.
    /// No lone surrogates: those would not survive UTF-8 and the round trip would fail for the wrong reason.</summary>
    private static readonly char[] Alphabet = "abcxyz-._019\u00e9\u20ac\u65e5".ToCharArray();

    public static byte[] Encode(IKafkaMessage message, short version)
    {
        using var writer = new KafkaWriter(16);
        message.Write(writer, version);
        return writer.ToArray();
    }

    /// <summary>Decodes from an array of exactly the message's size, so a read past the end cannot find
    /// stray bytes, and reports how many bytes were consumed.</summary>
    public static IKafkaMessage Decode(ApiKey key, bool request, byte[] bytes, short version, out int consumed)
    {
        var reader = new KafkaReader(bytes);
        var message = request
            ? MessageCodec.ReadRequest(key, ref reader, version)
            : MessageCodec.ReadResponse(key, ref reader, version);
        consumed = reader.Position;
        return message;
    }

    /// <summary>encode, decode, encode: same bytes, every byte consumed. Returns the decoded message.</summary>
    public static T AssertRoundTrip<T>(ApiKey key, bool request, T message, short version) where T : IKafkaMessage
    {
        byte[] first = Encode(message, version);
        var decoded = Decode(key, request, first, version, out int consumed);
        Assert.Equal(first.Length, consumed);
        var typed = Assert.IsType<T>(decoded);
        byte[] second = Encode(typed, version);
        Assert.Equal(first, second);
        return typed;
    }

    /// <summary>Strict prefixes of a valid encoding must fail with <see cref="ProtocolException"/> and nothing
    /// else. Short encodings try every prefix; long ones the first and last 16 and an even spread between.</summary>
    public static void AssertTruncationsThrow(ApiKey key, bool request, byte[] valid, short version)
    {
        foreach (int length in PrefixLengths(valid.Length))
        {
            byte[] prefix = valid[..length];
            var ex = Record.Exception(() => Decode(key, request, prefix, version, out _));
            Assert.True(ex is ProtocolException,
                $"{key} v{version} {(request ? "request" : "response")}: prefix {length}/{valid.Length} gave " +
                (ex is null ? "no exception" : ex.GetType().Name + ": " + ex.Message));
        }
    }

    /// <summary>A valid encoding with a few bytes overwritten reaches deeper into a decoder than random bytes do;
    /// it may still decode (the bytes can be plausible) but must not fail any other way than ProtocolException.</summary>
    public static void AssertMutationDecodesOrThrowsProtocolException(ApiKey key, bool request, byte[] valid, short version,
        (int Position, byte Value)[] mutations)
    {
        if (valid.Length == 0) return;
        byte[] mutated = (byte[])valid.Clone();
        foreach (var (position, value) in mutations) mutated[position % mutated.Length] = value;
        var ex = Record.Exception(() => Decode(key, request, mutated, version, out _));
        Assert.True(ex is null or ProtocolException,
            $"{key} v{version} {(request ? "request" : "response")} {Convert.ToHexString(mutated)}: " +
            $"{ex?.GetType().Name}: {ex?.Message}");
    }

    private static Gen<(int Position, byte Value)[]> Mutations =>
        Gen.Choose(1, 3).SelectMany(n => Gen.ArrayOf(
            from position in Gen.Choose(0, int.MaxValue)
            from value in Gen.Elements<byte>(0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF).Or(Gen.Choose(0, 255).Select(b => (byte)b))
            select (position, value), n));

    private static IEnumerable<int> PrefixLengths(int total)
    {
        const int edge = 16;
        if (total <= 3 * edge)
        {
            for (int n = 0; n < total; n++) yield return n;
            yield break;
        }
        for (int n = 0; n < edge; n++) yield return n;
        int step = Math.Max(1, (total - 2 * edge) / edge);
        for (int n = edge; n < total - edge; n += step) yield return n;
        for (int n = total - edge; n < total; n++) yield return n;
    }

    /// <summary>Runs the round-trip and truncation properties for every version in the codec's range.</summary>
    public static void CheckAllVersions<T>(ApiKey key, bool request, Func<short, Gen<T>> generator,
        Action<T, T, short> spotCheck, int testsPerVersion = 40) where T : IKafkaMessage
    {
        var range = MessageCodec.CodecRange(key);
        Assert.NotNull(range);
        for (short v = range.Value.Min; v <= range.Value.Max; v++)
        {
            short version = v;
            var cases = generator(version).SelectMany(m => Mutations.Select(mutations => (m, mutations)));
            var property = Prop.ForAll(cases.ToArbitrary(), input =>
            {
                var (message, mutations) = input;
                var decoded = AssertRoundTrip(key, request, message, version);
                spotCheck(message, decoded, version);
                byte[] valid = Encode(message, version);
                AssertTruncationsThrow(key, request, valid, version);
                AssertMutationDecodesOrThrowsProtocolException(key, request, valid, version, mutations);
            });
            FsCheckRunner.One(Config.QuickThrowOnFailure.WithMaxTest(testsPerVersion)
                .WithName($"{key} v{version} {(request ? "request" : "response")}"), property);
        }
    }

    // ---- generators ----

    public static Gen<string> Str =>
        Gen.Choose(0, 10).SelectMany(n => Gen.Elements(Alphabet).ArrayOf(n)).Select(cs => new string(cs));

    public static Gen<string?> NullableStr =>
        Gen.Frequency((1, Gen.Constant<string?>(null)), (4, Str.Select(s => (string?)s)));

    public static Gen<bool> Bool => Gen.Elements(true, false);

    public static Gen<int> I32 =>
        Gen.Frequency((1, Gen.Elements(int.MinValue, -1, 0, 1, int.MaxValue)), (3, Gen.Choose(-1_000_000, 1_000_000)));

    public static Gen<long> I64 =>
        Gen.Frequency(
            (1, Gen.Elements(long.MinValue, -1L, 0L, 1L, long.MaxValue)),
            (3, I32.SelectMany(hi => I32.Select(lo => ((long)hi << 32) | (uint)lo))));

    public static Gen<short> I16 => Gen.Choose(short.MinValue, short.MaxValue).Select(x => (short)x);

    public static Gen<sbyte> I8 => Gen.Choose(sbyte.MinValue, sbyte.MaxValue).Select(x => (sbyte)x);

    public static Gen<ErrorCode> Error => I16.Select(x => (ErrorCode)x);

    public static Gen<Guid> Uuid =>
        Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b), 16).Select(bytes => new Guid(bytes));

    public static Gen<List<T>> ListOf<T>(Gen<T> element, int max = 3) =>
        Gen.Choose(0, max).SelectMany(n => Gen.ArrayOf(element, n)).Select(a => a.ToList());

    public static Gen<List<T>?> NullableListOf<T>(Gen<T> element, int max = 3) =>
        Gen.Frequency((1, Gen.Constant<List<T>?>(null)), (4, ListOf(element, max).Select(l => (List<T>?)l)));
}
