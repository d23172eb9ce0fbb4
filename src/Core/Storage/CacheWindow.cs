namespace DetKafka.Core.Storage;

/// <summary>
/// The model of "what of a file is in the page cache" that decides whether a read is hot (served on the driver
/// thread) or cold (asked of the disk first, STORAGE.md "Cold reads"): one contiguous byte range per file, touched
/// by writes, reads and completed read-aheads, which goes cold <c>coldAfter</c> after its last touch. A write or
/// read that overlaps or adjoins the range widens it (appends keep the active segment warm); one elsewhere
/// replaces it. Core keeps one per segment as its belief; the simulated disk keeps one per file as the truth it
/// charges a blocking read against, so both run this one definition. Units are the caller's (ms in Core, us in the
/// simulator).
/// </summary>
public struct CacheWindow
{
    private long _from;
    private long _to;
    private long _touchedAt;

    /// <summary>Whether <c>[from, to)</c> lies in the range and the range is still warm at <paramref name="now"/>.
    /// An empty read is always covered.</summary>
    public readonly bool Covers(long from, long to, long now, long coldAfter)
        => to <= from || (_to > _from && now - _touchedAt < coldAfter && _from <= from && to <= _to);

    /// <summary><c>[from, to)</c> was written, read or read ahead at <paramref name="now"/>.</summary>
    public void Touch(long from, long to, long now, long coldAfter)
    {
        if (to <= from) return;
        bool warm = _to > _from && now - _touchedAt < coldAfter;
        if (warm && from <= _to && to >= _from)
        {
            _from = Math.Min(_from, from);
            _to = Math.Max(_to, to);
        }
        else
        {
            _from = from;
            _to = to;
        }
        _touchedAt = now;
    }

    /// <summary>Everything cold (a crash empties the page cache; a truncation invalidates what was past it).</summary>
    public void Clear() => _from = _to = 0;
}
