namespace DetKafka.Core.Protocol;

/// <summary>Where record bytes live until a response carrying them is encoded: a log segment's file.</summary>
public interface IRecordsSource
{
    /// <summary>Copies exactly <c>destination.Length</c> bytes from <paramref name="position"/>.</summary>
    void CopyTo(long position, Span<byte> destination);
}

/// <summary>
/// Record bytes not yet read: <paramref name="Length"/> bytes at <paramref name="Position"/> of
/// <paramref name="Source"/>. A broker's fetch response carries these so the records are copied once, from
/// the log straight into the response writer, instead of into an array first. Valid only while the source is
/// unchanged, which holds because a response is encoded in the same input step that read the log.
/// </summary>
public readonly record struct RecordsSlice(IRecordsSource Source, long Position, int Length);
