using System.Collections;
using System.Reflection;
using DetKafka.Core.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using FsCheckCheck = FsCheck.Check;

namespace DetKafka.Properties.Protocol;

/// <summary>
/// Shared harness for message codec properties. <see cref="Check"/> encodes a message, decodes it through
/// <see cref="MessageCodec"/>, and asserts: the decoder consumes exactly the encoding, re-encoding gives the
/// same bytes, the decoded message has the same field values (deep, by reflection), and truncated encodings
/// fail with <see cref="ProtocolException"/> only. The generators below are bounded so a run stays fast.
/// Generators for a message should give fields absent from the version under test their default value,
/// otherwise the field comparison reports the (expected) loss.
/// </summary>
public static class RoundTrip
{
    /// <summary>Every version the codec implements for <paramref name="key"/>.</summary>
    public static IEnumerable<short> Versions(ApiKey key)
    {
        var range = MessageCodec.CodecRange(key) ?? throw new InvalidOperationException($"no codec for {key}");
        for (int v = range.Min; v <= range.Max; v++) yield return (short)v;
    }

    public static byte[] Encode(IKafkaMessage message, short version)
    {
        using var writer = new KafkaWriter();
        message.Write(writer, version);
        return writer.ToArray();
    }

    /// <summary>Decodes <paramref name="length"/> bytes of <paramref name="bytes"/> and asserts all were consumed.</summary>
    public static IKafkaMessage Decode(ApiKey key, short version, byte[] bytes, bool isRequest, int? length = null)
    {
        var reader = new KafkaReader(bytes, 0, length ?? bytes.Length);
        var decoded = isRequest
            ? MessageCodec.ReadRequest(key, ref reader, version)
            : MessageCodec.ReadResponse(key, ref reader, version);
        Assert.True(reader.IsAtEnd, $"{key} v{version} {(isRequest ? "request" : "response")}: {reader.Remaining} bytes left undecoded");
        return decoded;
    }

    /// <summary>The full round-trip property for one message; returns the decoded message for spot checks.</summary>
    public static IKafkaMessage Check(ApiKey key, short version, IKafkaMessage message, bool isRequest, int truncationSamples = 12)
    {
        byte[] first = Encode(message, version);
        var decoded = Decode(key, version, first, isRequest);
        Assert.Equal(message.GetType(), decoded.GetType());
        byte[] second = Encode(decoded, version);
        Assert.Equal(first, second);
        AssertSameFields(message, decoded, $"{key}v{version}");
        CheckTruncations(key, version, first, isRequest, truncationSamples);
        return decoded;
    }

    /// <summary>Decoding a strict prefix of a valid encoding must throw <see cref="ProtocolException"/>. Tests
    /// the empty prefix, the last few, and <paramref name="samples"/> spread over the rest (all when short;
    /// int.MaxValue tests every prefix).</summary>
    public static void CheckTruncations(ApiKey key, short version, byte[] encoding, bool isRequest, int samples = 12)
    {
        foreach (int length in PrefixLengths(encoding.Length, samples))
        {
            try
            {
                var reader = new KafkaReader(encoding, 0, length);
                _ = isRequest
                    ? MessageCodec.ReadRequest(key, ref reader, version)
                    : MessageCodec.ReadResponse(key, ref reader, version);
            }
            catch (ProtocolException)
            {
                continue;
            }
            catch (Exception e)
            {
                Assert.Fail($"{key} v{version}: prefix {length}/{encoding.Length} threw {e.GetType().Name}, not ProtocolException: {e.Message}");
            }
            Assert.Fail($"{key} v{version}: prefix {length}/{encoding.Length} decoded without error");
        }
    }

    /// <summary>Decoding <paramref name="encoding"/> with bytes overwritten (at the given positions, modulo
    /// its length) must either succeed or throw <see cref="ProtocolException"/>: hostile input never escapes
    /// as another exception type.</summary>
    public static void CheckCorruption(ApiKey key, short version, byte[] encoding, bool isRequest, IEnumerable<(int Position, byte Value)> edits)
    {
        if (encoding.Length == 0) return;
        byte[] corrupt = (byte[])encoding.Clone();
        foreach (var (position, value) in edits) corrupt[(int)((uint)position % (uint)corrupt.Length)] = value;
        try
        {
            var reader = new KafkaReader(corrupt);
            _ = isRequest
                ? MessageCodec.ReadRequest(key, ref reader, version)
                : MessageCodec.ReadResponse(key, ref reader, version);
        }
        catch (ProtocolException)
        {
        }
        catch (Exception e)
        {
            Assert.Fail($"{key} v{version}: corrupted input threw {e.GetType().Name}, not ProtocolException: {e.Message}");
        }
    }

    private static IEnumerable<int> PrefixLengths(int fullLength, int samples)
    {
        var lengths = new SortedSet<int>();
        if (fullLength == 0) return lengths;
        if (samples >= fullLength)
        {
            for (int i = 0; i < fullLength; i++) lengths.Add(i);
            return lengths;
        }
        lengths.Add(0);
        for (int i = Math.Max(0, fullLength - 3); i < fullLength; i++) lengths.Add(i);
        for (int s = 1; s <= samples; s++) lengths.Add((int)((long)fullLength * s / (samples + 1)));
        lengths.RemoveWhere(l => l >= fullLength);
        return lengths;
    }

    /// <summary>Runs <paramref name="body"/> on <paramref name="maxTest"/> generated values; a failed assertion
    /// fails the test with FsCheck's counterexample.</summary>
    public static void ForAll<T>(Gen<T> gen, Action<T> body, int maxTest = 40)
        => FsCheckCheck.One(Config.QuickThrowOnFailure.WithMaxTest(maxTest), Prop.ForAll(Arb.From(gen), body));

    // ---- field comparison ----

    /// <summary>Deep comparison of two messages' public properties: primitives, enums, strings, lists,
    /// nested message classes and (nullable) <see cref="ReadOnlyMemory{T}"/> of bytes by content.</summary>
    public static void AssertSameFields(object? expected, object? actual, string path)
    {
        if (expected is null || actual is null)
        {
            Assert.True(expected is null && actual is null, $"{path}: expected {Show(expected)}, got {Show(actual)}");
            return;
        }
        Assert.True(expected.GetType() == actual.GetType(), $"{path}: type {expected.GetType().Name} vs {actual.GetType().Name}");
        var type = expected.GetType();
        if (type.IsPrimitive || type.IsEnum || expected is string || expected is decimal || expected is Guid)
        {
            Assert.True(expected.Equals(actual), $"{path}: expected {Show(expected)}, got {Show(actual)}");
            return;
        }
        if (expected is ReadOnlyMemory<byte> em)
        {
            var am = (ReadOnlyMemory<byte>)actual;
            Assert.True(em.Span.SequenceEqual(am.Span), $"{path}: bytes differ ({em.Length} vs {am.Length})");
            return;
        }
        if (expected is IList el)
        {
            var al = (IList)actual;
            Assert.True(el.Count == al.Count, $"{path}: count {el.Count} vs {al.Count}");
            for (int i = 0; i < el.Count; i++) AssertSameFields(el[i], al[i], $"{path}[{i}]");
            return;
        }
        Assert.True(type.IsClass, $"{path}: cannot compare values of type {type.Name}");
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (!property.CanRead || property.GetIndexParameters().Length > 0) continue;
            AssertSameFields(property.GetValue(expected), property.GetValue(actual), $"{path}.{property.Name}");
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        _ => value.ToString() ?? "?",
    };

    // ---- generators ----

    /// <summary>Characters that encode to 1, 2, 3 and 4 UTF-8 bytes (a surrogate pair kept whole).</summary>
    private static readonly string[] TextPieces = ["a", "z", "0", "_", "-", ".", " ", "é", "ß", "日", "本", "😀"];

    /// <summary>A string of up to <paramref name="maxPieces"/> pieces; sometimes long enough (>127 bytes) to need
    /// a two-byte compact length.</summary>
    public static Gen<string> Text(int maxPieces = 12)
        => Gen.Frequency(
            (9, Gen.Choose(0, maxPieces).SelectMany(n => Gen.ArrayOf(Gen.Elements(TextPieces), n)).Select(string.Concat)),
            (1, Gen.Choose(128, 300).Select(n => new string('x', n))));

    public static Gen<string?> NullableText(int maxPieces = 12)
        => Gen.Frequency((1, Gen.Constant<string?>(null)), (4, Text(maxPieces).Select(s => (string?)s)));

    public static Gen<bool> AnyBool => Gen.Elements(false, true);

    public static Gen<sbyte> AnyInt8 => Gen.Choose(sbyte.MinValue, sbyte.MaxValue).Select(i => (sbyte)i);

    public static Gen<short> AnyInt16 => Gen.Choose(short.MinValue, short.MaxValue).Select(i => (short)i);

    public static Gen<int> AnyInt32
        => Gen.Frequency(
            (3, Gen.Choose(-2, 100)),
            (1, Gen.Elements(int.MinValue, int.MaxValue, 1 << 20)),
            (3, Gen.Zip(Gen.Choose(0, ushort.MaxValue), Gen.Choose(0, ushort.MaxValue)).Select(t => (t.Item1 << 16) | t.Item2)));

    public static Gen<long> AnyInt64
        => Gen.Frequency(
            (3, Gen.Choose(-2, 1000).Select(i => (long)i)),
            (1, Gen.Elements(long.MinValue, long.MaxValue, 1L << 40)),
            (3, Gen.Zip(AnyInt32, AnyInt32).Select(t => ((long)t.Item1 << 32) | (uint)t.Item2)));

    /// <summary>Any protocol error code, including values this broker does not name.</summary>
    public static Gen<ErrorCode> AnyError => AnyInt16.Select(s => (ErrorCode)s);

    /// <summary>Bytes of up to <paramref name="maxLength"/>, as a slice at a non-zero offset of a larger array
    /// so that encoders that ignore the slice offset are caught.</summary>
    public static Gen<ReadOnlyMemory<byte>> Bytes(int maxLength = 48)
        => from length in Gen.Choose(0, maxLength)
           from offset in Gen.Choose(0, 3)
           from content in Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i), length + offset + 2)
           select new ReadOnlyMemory<byte>(content, offset, length);

    public static Gen<ReadOnlyMemory<byte>?> NullableBytes(int maxLength = 48)
        => Gen.Frequency((1, Gen.Constant<ReadOnlyMemory<byte>?>(null)), (4, Bytes(maxLength).Select(b => (ReadOnlyMemory<byte>?)b)));

    /// <summary>A list of 0..<paramref name="max"/> elements.</summary>
    public static Gen<List<T>> ListOf<T>(Gen<T> element, int max = 3)
        => Gen.Choose(0, max).SelectMany(n => Gen.ArrayOf(element, n)).Select(a => a.ToList());

    /// <summary>Null or a list of 0..<paramref name="max"/> elements.</summary>
    public static Gen<List<T>?> NullableListOf<T>(Gen<T> element, int max = 3)
        => Gen.Frequency((1, Gen.Constant<List<T>?>(null)), (4, ListOf(element, max).Select(l => (List<T>?)l)));

    /// <summary><paramref name="gen"/> when the field exists in <paramref name="version"/> (it was added in
    /// <paramref name="since"/>), else the field's default so the round trip can keep it.</summary>
    public static Gen<T> Since<T>(short version, int since, Gen<T> gen, T absent)
        => version >= since ? gen : Gen.Constant(absent);
}
