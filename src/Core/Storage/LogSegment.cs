using System.Buffers;
using System.Globalization;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>
/// One segment of a partition log: the <c>.log</c> file of whole batches with offsets from
/// <see cref="BaseOffset"/> up to <see cref="NextOffset"/> (exclusive), its <see cref="OffsetIndex"/> and
/// <see cref="TimeIndex"/>. Files are named by the base offset as 20 zero-padded digits, like Kafka's.
/// Offsets run without gaps, except in a segment the cleaner wrote (<see cref="AppendCleaned"/>): there batch
/// offsets only increase, since compaction removes records but never renumbers them.
/// </summary>
public sealed class LogSegment : IDisposable, IRecordsSource
{
    public const string LogSuffix = ".log";
    public const string IndexSuffix = ".index";
    public const string TimeIndexSuffix = ".timeindex";

    private readonly IDisk _disk;
    private readonly string _directory;
    private readonly int _indexIntervalBytes;
    private int _size;
    private int _bytesSinceLastIndexEntry;
    private bool _allowGaps;

    private string _fileSuffix;

    private LogSegment(IDisk disk, string directory, long baseOffset, LogConfig config, long createdMs, string fileSuffix)
    {
        _disk = disk;
        _directory = directory;
        _fileSuffix = fileSuffix;
        BaseOffset = baseOffset;
        _indexIntervalBytes = config.IndexIntervalBytes;
        CreatedMs = createdMs;
        string stem = PathOf(directory, FileStem(baseOffset));
        LogFile = disk.Open(stem + LogSuffix + fileSuffix, create: true);
        OffsetIndex = new OffsetIndex(disk.Open(stem + IndexSuffix + fileSuffix, create: true), baseOffset, config.SegmentIndexBytes);
        TimeIndex = new TimeIndex(disk.Open(stem + TimeIndexSuffix + fileSuffix, create: true), baseOffset, config.SegmentIndexBytes);
        NextOffset = baseOffset;
    }

    /// <summary>The suffix after the usual file names: "" for a live segment, <c>.cleaned</c> while the cleaner writes one.</summary>
    public string FileSuffix => _fileSuffix;

    /// <summary>The cleaner renamed this segment's files to the live names (see <see cref="LogCleaner"/>).</summary>
    internal void OnRenamedLive() => _fileSuffix = "";

    public long BaseOffset { get; }

    /// <summary>One past the last offset held; <see cref="BaseOffset"/> when empty.</summary>
    public long NextOffset { get; private set; }

    public int Size => _size;

    /// <summary>Core's model of what of this segment's log file is in the page cache (<see cref="CacheWindow"/>,
    /// kept by <c>ColdReads</c>; a field, since the struct is updated in place).</summary>
    internal CacheWindow ReadCache;

    /// <summary>Core's model of what of this segment's offset-index file is in the page cache, for a closed segment
    /// whose index entries were released (<see cref="ReleaseIndexEntries"/>): a fetch reads that file ahead before it
    /// searches it (<c>ColdReads</c>).</summary>
    internal CacheWindow IndexReadCache;

    /// <summary>A read-ahead of this segment (its log or its offset index) is in flight (at most one).</summary>
    internal bool ReadPending;
    public bool IsEmpty => _size == 0;
    public IDiskFile LogFile { get; }
    public OffsetIndex OffsetIndex { get; }
    public TimeIndex TimeIndex { get; }

    /// <summary>Largest batch max timestamp in the segment, <see cref="RecordBatch.NoTimestamp"/> when none.</summary>
    public long LargestTimestamp { get; private set; } = RecordBatch.NoTimestamp;

    /// <summary>Base offset of the first batch carrying <see cref="LargestTimestamp"/>.</summary>
    public long OffsetOfLargestTimestamp { get; private set; } = -1;

    /// <summary>The first batch's max timestamp: segment.ms counts from it, as Kafka does.</summary>
    public long RollingBasedTimestamp { get; private set; } = RecordBatch.NoTimestamp;

    /// <summary>When this process created or opened the segment (segment.ms fallback when the first batch has no timestamp).</summary>
    public long CreatedMs { get; }

    public static string FileStem(long baseOffset) => baseOffset.ToString("D20", CultureInfo.InvariantCulture);

    /// <summary>Parses a segment file name (<c>00000000000000000042.log</c>) back to its base offset.</summary>
    public static bool TryParseFileName(string name, string suffix, out long baseOffset)
    {
        baseOffset = -1;
        if (!name.EndsWith(suffix, StringComparison.Ordinal) || name.Length != 20 + suffix.Length) return false;
        var digits = name.AsSpan(0, 20);
        foreach (char c in digits)
            if (c is < '0' or > '9') return false;
        return long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out baseOffset);
    }

    internal static string PathOf(string directory, string name) => directory.Length == 0 ? name : directory + "/" + name;

    /// <summary>Creates (or opens, without looking at the contents) the segment's three files.</summary>
    public static LogSegment Open(IDisk disk, string directory, long baseOffset, LogConfig config, long nowMs)
        => new(disk, directory, baseOffset, config, nowMs, "");

    /// <summary>Creates a segment whose files carry <paramref name="fileSuffix"/> (the cleaner's <c>.cleaned</c>
    /// output), emptying any left from before.</summary>
    internal static LogSegment OpenWithSuffix(IDisk disk, string directory, long baseOffset, LogConfig config, long nowMs,
        string fileSuffix)
    {
        var segment = new LogSegment(disk, directory, baseOffset, config, nowMs, fileSuffix);
        segment.LogFile.Truncate(0);
        segment.OffsetIndex.Reset();
        segment.TimeIndex.Reset();
        return segment;
    }

    /// <summary>
    /// The cleaner's append: one whole batch (already valid, offsets already assigned) whose base offset may
    /// lie past <see cref="NextOffset"/>, since compaction leaves gaps. Indexed like any append.
    /// </summary>
    internal DiskStatus AppendCleaned(ReadOnlySpan<byte> batch, in RecordBatchHeader header, long maxTimestamp)
    {
        Check.That(header.BaseOffset >= NextOffset && header.TotalSize == batch.Length);
        Check.That((long)_size + batch.Length <= int.MaxValue);
        int start = _size;
        var status = LogFile.Write(start, batch);
        if (status != DiskStatus.Ok)
        {
            LogFile.Truncate(start);
            return status;
        }
        NextOffset = header.BaseOffset; // a gap: offsets removed by compaction
        IndexBatch(header.BaseOffset, header.LastOffset, maxTimestamp, start, batch.Length);
        return DiskStatus.Ok;
    }

    /// <summary>
    /// Writes a prepared append (whole batches, offsets assigned from <see cref="NextOffset"/>) at the end of the
    /// file and indexes it. On a failed write the file is cut back and nothing changes.
    /// </summary>
    public DiskStatus Append(ReadOnlySpan<byte> batches, IReadOnlyList<AppendedBatch> layout)
    {
        Check.That(layout.Count > 0 && layout[0].BaseOffset == NextOffset);
        Check.That((long)_size + batches.Length <= int.MaxValue);
        Check.That(layout[^1].Position + layout[^1].Size == batches.Length);
        int start = _size;
        var status = LogFile.Write(start, batches);
        if (status != DiskStatus.Ok)
        {
            LogFile.Truncate(start);
            return status;
        }
        // An index loop: foreach over the interface would box an enumerator on every append.
        for (int i = 0; i < layout.Count; i++)
        {
            var b = layout[i];
            IndexBatch(b.BaseOffset, b.LastOffset, b.MaxTimestamp, start + b.Position, b.Size);
        }
        Check.That(_size == start + batches.Length && LogFile.Length == _size);
        return DiskStatus.Ok;
    }

    /// <summary>Accounts for the batch just written at <paramref name="position"/>, the single place where both
    /// appends and recovery grow a segment, so a rebuilt index follows the same rule as the original.</summary>
    private void IndexBatch(long baseOffset, long lastOffset, long maxTimestamp, int position, int size)
    {
        Check.That(baseOffset == NextOffset && lastOffset >= baseOffset && position == _size && size >= RecordBatch.HeaderSize);
        Check.That(lastOffset - BaseOffset <= int.MaxValue);
        if (_size == 0) RollingBasedTimestamp = maxTimestamp;
        if (maxTimestamp > LargestTimestamp)
        {
            LargestTimestamp = maxTimestamp;
            OffsetOfLargestTimestamp = baseOffset;
        }
        _size += size;
        NextOffset = lastOffset + 1;
        _bytesSinceLastIndexEntry += size;
        if (_bytesSinceLastIndexEntry > _indexIntervalBytes && !OffsetIndex.IsFull && !TimeIndex.IsFull)
        {
            // Both indexes take their entry at the same batch, so the last time entry always covers every
            // batch up to the last offset entry: a clean open need only scan the log after that entry.
            OffsetIndex.Append(baseOffset, position);
            if (LargestTimestamp != RecordBatch.NoTimestamp)
                TimeIndex.MaybeAppend(LargestTimestamp, OffsetOfLargestTimestamp);
            _bytesSinceLastIndexEntry = 0;
        }
    }

    /// <summary>Kafka's roll rule: a non-empty segment rolls when the append would overflow segment.bytes, an
    /// index is full, relative offsets would overflow, or segment.ms has passed since its first batch.</summary>
    public bool ShouldRoll(LogConfig config, int appendBytes, long lastOffset, long maxTimestampInAppend, long nowMs)
    {
        if (IsEmpty) return false;
        if ((long)_size + appendBytes > config.SegmentBytes) return true;
        if (OffsetIndex.IsFull || TimeIndex.IsFull) return true;
        if (lastOffset - BaseOffset > int.MaxValue) return true;
        long waited = RollingBasedTimestamp >= 0 ? maxTimestampInAppend - RollingBasedTimestamp : nowMs - CreatedMs;
        return waited > config.SegmentMs;
    }

    /// <summary>Reads the batch header at <paramref name="position"/>; false when no whole header is there.</summary>
    public bool TryReadHeader(int position, out RecordBatchHeader header)
    {
        if (position >= _size)
        {
            header = default;
            return false;
        }
        return TryReadFileHeader(position, out header);
    }

    /// <summary>Like <see cref="TryReadHeader"/> but bounded by the file rather than the validated size (recovery).</summary>
    private bool TryReadFileHeader(long position, out RecordBatchHeader header)
    {
        Span<byte> buffer = stackalloc byte[RecordBatch.HeaderSize];
        int read = LogFile.Read(position, buffer);
        if (read < RecordBatch.HeaderSize)
        {
            header = default;
            return false;
        }
        return RecordBatchHeader.TryRead(buffer, out header);
    }

    /// <summary>Position of the batch holding <paramref name="offset"/> (which must be in this segment): the
    /// offset index gives a batch at or before it, then batch headers are walked.</summary>
    public int TranslateOffset(long offset)
    {
        Check.That(offset >= BaseOffset && offset < NextOffset);
        int position = IndexedPosition(offset);
        while (true)
        {
            Check.That(TryReadHeader(position, out var header));
            // In a cleaned segment the batch found may start after the offset asked (it fell in a gap).
            if (header.LastOffset >= offset) return position;
            position = checked(position + (int)header.TotalSize);
        }
    }

    /// <summary>
    /// Byte range of whole batches to serve from <paramref name="startOffset"/>: starts at the batch holding it,
    /// stops before any batch reaching <paramref name="maxOffsetExclusive"/> and before exceeding
    /// <paramref name="maxBytes"/>, except that the first batch is always taken when <paramref name="minOneBatch"/>.
    /// </summary>
    public (int Start, int End) ReadRange(long startOffset, int maxBytes, long maxOffsetExclusive, bool minOneBatch)
    {
        int start = TranslateOffset(startOffset);
        int end = start;
        while (end < _size)
        {
            Check.That(TryReadHeader(end, out var header));
            if (header.LastOffset >= maxOffsetExclusive) break;
            long next = end + header.TotalSize;
            Check.That(next <= _size);
            if (next - start > maxBytes && (end > start || !minOneBatch)) break;
            end = (int)next;
        }
        return (start, end);
    }

    public byte[] ReadBytes(int start, int end)
    {
        var bytes = new byte[end - start];
        CopyTo(start, bytes);
        return bytes;
    }

    /// <summary>Copies validated bytes of the log file (a fetch's records, straight into its response).</summary>
    public void CopyTo(long position, Span<byte> destination)
    {
        Check.That(0 <= position && position + destination.Length <= _size);
        Check.That(LogFile.Read(position, destination) == destination.Length);
    }

    /// <summary>
    /// First record at or after <paramref name="startingOffset"/> whose timestamp is at least
    /// <paramref name="timestamp"/>: the time index says where to start, then batch headers and, inside the
    /// first batch whose max timestamp qualifies, the records themselves.
    /// </summary>
    public TimestampOffset? FindOffsetByTimestamp(long timestamp, long startingOffset)
    {
        if (IsEmpty || startingOffset >= NextOffset) return null;
        var below = TimeIndex.LookupBelow(timestamp);
        // An entry read from a released file is checked as recovery checks the last one (it may have rotted).
        if (below is { } e && !TimeIndex.InMemory && !NamesBatchWithMaxTimestamp(e)) below = null;
        long from = Math.Max(below?.Offset ?? BaseOffset, startingOffset);
        int position = IndexedPosition(from);
        var records = new List<DecodedRecord>();
        while (position < _size)
        {
            Check.That(TryReadHeader(position, out var header));
            if (header.MaxTimestamp >= timestamp && header.LastOffset >= startingOffset)
            {
                if (header.TimestampType == TimestampType.LogAppendTime)
                    return new TimestampOffset(header.MaxTimestamp, Math.Max(header.BaseOffset, startingOffset));
                records.Clear();
                var error = RecordBatchDecoder.Decode(ReadBytes(position, position + (int)header.TotalSize), records);
                Check.That(error == ErrorCode.None);
                foreach (var r in records)
                    if (r.Offset >= startingOffset && r.Timestamp >= timestamp)
                        return new TimestampOffset(r.Timestamp, r.Offset);
            }
            position += (int)header.TotalSize;
        }
        return null;
    }

    /// <summary>
    /// Full recovery: validates every batch from the start with the produce path's validator, requires offsets
    /// to run on without gaps from <see cref="BaseOffset"/>, rebuilds both indexes, and cuts the file at the
    /// first batch that fails. Returns how many bytes were cut.
    /// </summary>
    public long Recover(IBrokerLog log, bool allowOffsetGaps = false)
    {
        _allowGaps = allowOffsetGaps;
        OffsetIndex.Reset();
        TimeIndex.Reset();
        _size = 0;
        _bytesSinceLastIndexEntry = 0;
        NextOffset = BaseOffset;
        LargestTimestamp = RecordBatch.NoTimestamp;
        OffsetOfLargestTimestamp = -1;
        RollingBasedTimestamp = RecordBatch.NoTimestamp;

        long fileLength = LogFile.Length;
        int position = 0;
        while (position < fileLength)
        {
            var problem = ValidateBatchAt(position, fileLength, out var header, out int size);
            if (problem is not null)
            {
                log.Warn("Segment {Segment}: {Problem} at byte {Position}; truncating {Bytes} bytes",
                    PathOf(_directory, FileStem(BaseOffset)), problem, position, fileLength - position);
                break;
            }
            if (_allowGaps) NextOffset = header.BaseOffset;
            IndexBatch(header.BaseOffset, header.LastOffset, header.MaxTimestamp, position, size);
            position += size;
        }
        long cut = fileLength - position;
        if (cut > 0) LogFile.Truncate(position);
        return cut;
    }

    /// <summary>
    /// Clean open of a segment that is not the last: loads both index files and scans only the batches after
    /// the last offset-index entry. False (state undefined; call <see cref="Recover"/>) when an index is
    /// inconsistent or the tail does not validate exactly up to the end of the file.
    /// </summary>
    /// <summary>Test-only planted bug (the simulator's derived-file-damage fault must catch it; src/Sim/Reach/
    /// PlantedBugs.cs): a loaded offset index is trusted without checking that its entries name batches. Per thread,
    /// so it cannot reach tests running beside the one that sets it. Never set outside tests.</summary>
    public static bool TrustIndexesForTests
    {
        get => _trustIndexesForTests;
        set => _trustIndexesForTests = value;
    }

    [ThreadStatic] private static bool _trustIndexesForTests;

    public bool TryOpenWithIndexes(long nextSegmentBaseOffset, IBrokerLog log)
    {
        _allowGaps = true; // only closed segments open this way, and the cleaner may have left gaps in them
        long fileLength = LogFile.Length;
        if (fileLength == 0 || fileLength > int.MaxValue) return false;
        string? problem = OffsetIndex.Load((int)fileLength, nextSegmentBaseOffset)
            ?? TimeIndex.Load(nextSegmentBaseOffset);
        if (problem is not null)
        {
            log.Warn("Segment {Segment}: index rejected ({Problem}); rebuilding", PathOf(_directory, FileStem(BaseOffset)), problem);
            return false;
        }
        // Every entry must point at the start of the batch it names (a header read each): a plausible but
        // wrong entry would otherwise send reads into the middle of a batch.
        foreach (var entry in OffsetIndex.Entries)
        {
            if (TrustIndexesForTests) break;
            if (!TryReadFileHeader(entry.Position, out var h) || h.BaseOffset != entry.Offset
                || h.Magic != RecordBatch.CurrentMagic || h.BatchLength < RecordBatch.BatchLengthMin
                || entry.Position + h.TotalSize > fileLength)
            {
                log.Warn("Segment {Segment}: index entry {Entry} names no batch; rebuilding", PathOf(_directory, FileStem(BaseOffset)), entry);
                return false;
            }
        }
        var anchor = OffsetIndex.Count == 0 ? new OffsetPosition(BaseOffset, 0) : OffsetIndex.Entries[^1];
        _size = anchor.Position;
        NextOffset = anchor.Offset;
        var lastTime = TimeIndex.LastEntry;
        // Entries are taken together, so the last time entry can name no batch after the last offset entry,
        // and an offset entry without any time entry means the time index is missing (batches without
        // timestamps are the rare exception, and only cost a rebuild).
        if (lastTime is { } t ? OffsetIndex.Count == 0 || t.Offset > anchor.Offset : OffsetIndex.Count > 0)
        {
            log.Warn("Segment {Segment}: the two indexes disagree; rebuilding", PathOf(_directory, FileStem(BaseOffset)));
            return false;
        }
        LargestTimestamp = lastTime?.Timestamp ?? RecordBatch.NoTimestamp;
        OffsetOfLargestTimestamp = lastTime?.Offset ?? -1;
        int position = anchor.Position;
        int anchorBatchSize = 0;
        while (position < fileLength)
        {
            problem = ValidateBatchAt(position, fileLength, out var header, out int size);
            if (problem is not null) return false;
            if (position == anchor.Position && OffsetIndex.Count > 0) anchorBatchSize = size;
            if (header.MaxTimestamp > LargestTimestamp)
            {
                LargestTimestamp = header.MaxTimestamp;
                OffsetOfLargestTimestamp = header.BaseOffset;
            }
            position += size;
            _size = position;
            NextOffset = header.NextOffset;
        }
        if (lastTime is { } last && !NamesBatchWithMaxTimestamp(last))
        {
            log.Warn("Segment {Segment}: time index disagrees with the log; rebuilding", PathOf(_directory, FileStem(BaseOffset)));
            return false;
        }
        // Entries are taken whenever more than the interval has gone unindexed, so more unindexed bytes than
        // that after the last entry's batch mean the index files are missing or short.
        bool indexesFull = OffsetIndex.IsFull || TimeIndex.IsFull;
        if (!indexesFull && fileLength - anchor.Position - anchorBatchSize > _indexIntervalBytes)
        {
            log.Warn("Segment {Segment}: index ends early; rebuilding", PathOf(_directory, FileStem(BaseOffset)));
            return false;
        }
        return true;
    }

    /// <summary>True when a batch starts at the entry's offset and has the entry's timestamp as its max.</summary>
    private bool NamesBatchWithMaxTimestamp(TimestampOffset entry)
    {
        if (entry.Offset >= NextOffset) return false;
        int position = IndexedPosition(entry.Offset);
        while (TryReadHeader(position, out var header) && header.BaseOffset <= entry.Offset
               && header.BatchLength >= RecordBatch.BatchLengthMin)
        {
            if (header.BaseOffset == entry.Offset) return header.MaxTimestamp == entry.Timestamp;
            position += (int)header.TotalSize;
        }
        return false;
    }

    /// <summary>Reads and validates the batch at <paramref name="position"/>, which must carry offset
    /// <see cref="NextOffset"/>. Returns null when good, else what is wrong.</summary>
    private string? ValidateBatchAt(int position, long fileLength, out RecordBatchHeader header, out int size)
    {
        header = default;
        size = 0;
        long remaining = fileLength - position;
        if (remaining < RecordBatch.HeaderSize) return $"{remaining} trailing bytes cannot hold a batch";
        if (!TryReadFileHeader(position, out header)) return "unreadable header";
        if (header.BatchLength < RecordBatch.BatchLengthMin || header.TotalSize > remaining)
            return $"batch length {header.BatchLength} does not fit the {remaining} bytes left";
        size = (int)header.TotalSize;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            if (LogFile.Read(position, buffer.AsSpan(0, size)) != size) return "short read";
            var v = RecordBatchValidator.ValidateBatch(buffer.AsSpan(0, size), RecordValidationOptions.ForRecovery());
            if (!v.IsValid) return $"{v.Error}: {v.Message}";
            if (_allowGaps ? header.BaseOffset < NextOffset : header.BaseOffset != NextOffset)
                return $"base offset {header.BaseOffset} where {NextOffset} was expected";
            return null;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Makes the whole segment durable (before it stops being the active one, at shutdown, after recovery).</summary>
    public DiskStatus SyncAll()
    {
        DiscardDamagedIndexFiles();
        var status = LogFile.SyncNow();
        if (status == DiskStatus.Ok) status = OffsetIndex.SyncNow();
        if (status == DiskStatus.Ok) status = TimeIndex.SyncNow();
        return status;
    }

    /// <summary>A half-written pair of index files could understate the segment's largest timestamp on a clean
    /// open; two empty files make that open scan the whole segment instead.</summary>
    private void DiscardDamagedIndexFiles()
    {
        if (OffsetIndex.FileDamaged || TimeIndex.FileDamaged)
        {
            OffsetIndex.DiscardFile();
            TimeIndex.DiscardFile();
        }
    }

    /// <summary>The asynchronous <see cref="SyncAll"/> of a segment being rolled: one sync request per file
    /// (log, offset index, time index), each completing as its own <c>OnSyncCompleted(token)</c>.</summary>
    public void RequestSyncAll(long logToken, long indexToken, long timeIndexToken)
    {
        DiscardDamagedIndexFiles();
        LogFile.RequestSync(logToken);
        OffsetIndex.RequestSync(indexToken);
        TimeIndex.RequestSync(timeIndexToken);
    }

    /// <summary>
    /// The segment is closed (rolled, or opened at start-up as not the last): its index entries leave the heap and
    /// lookups read the index files (issue 11: the broker's memory must not grow with the log). Both or neither:
    /// while either file failed a write both files are discarded at the roll (<see cref="SyncAll"/>) and the
    /// entries stay in memory, the one copy there is (rare, and bounded by that segment's index).
    /// </summary>
    public void ReleaseIndexEntries()
    {
        if (!OffsetIndex.InMemory || !TimeIndex.InMemory || OffsetIndex.FileDamaged || TimeIndex.FileDamaged) return;
        // Each index checks its file; one whose file disagrees keeps its entries (the other may go).
        OffsetIndex.Release();
        TimeIndex.Release();
    }

    /// <summary>The position of a batch at or before <paramref name="offset"/> to walk from: the offset index's entry,
    /// checked when it was read from a released index's file (a header read: the entry must name a batch start inside
    /// the segment, as recovery checks), else the segment start, which is always correct.</summary>
    internal int IndexedPosition(long offset)
    {
        var entry = OffsetIndex.Lookup(offset);
        if (OffsetIndex.InMemory || entry.Position == 0) return entry.Position;
        bool names = entry.Position > 0 && entry.Offset >= BaseOffset && entry.Offset <= offset
            && TryReadHeader(entry.Position, out var h) && h.BaseOffset == entry.Offset
            && h.Magic == RecordBatch.CurrentMagic && h.BatchLength >= RecordBatch.BatchLengthMin
            && (long)entry.Position + h.TotalSize <= _size;
        return names ? entry.Position : 0;
    }

    /// <summary>Closes and deletes the three files.</summary>
    public void Delete()
    {
        Dispose();
        string stem = PathOf(_directory, FileStem(BaseOffset));
        foreach (var suffix in new[] { LogSuffix, IndexSuffix, TimeIndexSuffix })
            if (_disk.FileExists(stem + suffix + _fileSuffix)) _disk.DeleteFile(stem + suffix + _fileSuffix);
    }

    public void Dispose()
    {
        LogFile.Dispose();
        OffsetIndex.Dispose();
        TimeIndex.Dispose();
    }

    public override string ToString() => $"LogSegment({FileStem(BaseOffset)}, size {_size}, offsets [{BaseOffset}, {NextOffset}))";
}
