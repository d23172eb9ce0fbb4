using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Util;

namespace DetKafka.Core.Storage;

/// <summary>A finished sync as the broker sees it: which log, whether it failed, and how far acks may go now.</summary>
public readonly record struct SyncCompletion(TopicPartition TopicPartition, UnifiedLog Log, ErrorCode Error,
    long FlushedOffset, long HighWatermark);

/// <summary>
/// The partition logs of one node, under one root directory of the disk. Allocates the sync tokens the logs
/// pass to <see cref="IDiskFile.RequestSync"/> and routes completions back. Iterates in
/// (topic, partition) order wherever the order can reach an output. The logs sit in a list kept sorted that
/// way: lookups are a binary search and walks an index loop, so the per-request paths (find a partition's
/// log, start the syncs a produce needs) allocate nothing, unlike a SortedDictionary's boxed key and
/// enumerator stack.
/// </summary>
public sealed class LogManager : IDisposable
{
    private readonly IDisk _disk;
    private readonly string _root;
    private readonly IBrokerLog _log;
    private readonly List<UnifiedLog> _logs = new();
    private readonly Dictionary<long, TopicPartition> _syncTokens = new();
    private long _nextSyncToken = 1;

    public LogManager(IDisk disk, string rootDirectory, IBrokerLog log)
    {
        _disk = disk;
        _root = rootDirectory.TrimEnd('/');
        _log = log;
        if (_root.Length > 0 && !_disk.DirectoryExists(_root)) _disk.CreateDirectory(_root);
    }

    public string RootDirectory => _root;

    /// <summary>Every log, sorted by topic then partition.</summary>
    public IEnumerable<UnifiedLog> Logs => _logs;

    public int Count => _logs.Count;

    /// <summary>Sync tokens started and not yet completed (all logs).</summary>
    public int SyncsInFlight => _syncTokens.Count;

    private string DirectoryOf(TopicPartition tp) => _root.Length == 0 ? tp.DirectoryName : _root + "/" + tp.DirectoryName;

    /// <summary>
    /// Start-up: opens (recovering) every <c>topic-partition</c> directory under the root, in sorted order, with
    /// the config <paramref name="configForTopic"/> gives. Returns the partitions found.
    /// </summary>
    public IReadOnlyList<TopicPartition> LoadAll(Func<string, LogConfig> configForTopic, long nowMs)
    {
        var found = new List<TopicPartition>();
        foreach (var name in _disk.List(_root))
        {
            if (!TopicPartition.TryParseDirectoryName(name, out var tp)) continue;
            if (!_disk.DirectoryExists(DirectoryOf(tp)) || IndexOf(tp) >= 0) continue;
            Insert(OpenLog(tp, configForTopic(tp.Topic), nowMs));
            found.Add(tp);
        }
        found.Sort(TopicPartitionComparer.Instance);
        return found;
    }

    private UnifiedLog OpenLog(TopicPartition tp, LogConfig config, long nowMs)
        => UnifiedLog.Open(_disk, DirectoryOf(tp), tp, config, () => AllocateSyncToken(tp), _log, nowMs);

    private long AllocateSyncToken(TopicPartition tp)
    {
        long token = _nextSyncToken++;
        _syncTokens.Add(token, tp);
        return token;
    }

    public UnifiedLog? GetLog(TopicPartition tp)
    {
        int at = IndexOf(tp);
        return at >= 0 ? _logs[at] : null;
    }

    /// <summary>Where <paramref name="tp"/>'s log is in the sorted list, or the complement of where it would go.</summary>
    private int IndexOf(TopicPartition tp)
    {
        int lo = 0, hi = _logs.Count - 1;
        while (lo <= hi)
        {
            int mid = lo + ((hi - lo) >> 1);
            int c = _logs[mid].TopicPartition.CompareTo(tp);
            if (c == 0) return mid;
            if (c < 0) lo = mid + 1;
            else hi = mid - 1;
        }
        return ~lo;
    }

    private void Insert(UnifiedLog log)
    {
        int at = IndexOf(log.TopicPartition);
        Check.That(at < 0, "one log per partition");
        _logs.Insert(~at, log);
    }

    /// <summary>Opens the partition's log, creating its directory when new; the existing log when already open.</summary>
    public UnifiedLog GetOrCreateLog(TopicPartition tp, LogConfig config, long nowMs)
    {
        if (GetLog(tp) is { } existing) return existing;
        var log = OpenLog(tp, config, nowMs);
        Insert(log);
        return log;
    }

    /// <summary>Closes the log and deletes its directory. Completions of its in-flight sync are then ignored.</summary>
    public bool DeleteLog(TopicPartition tp)
    {
        int at = IndexOf(tp);
        if (at < 0)
        {
            if (_disk.DirectoryExists(DirectoryOf(tp))) _disk.DeleteDirectory(DirectoryOf(tp));
            return false;
        }
        var log = _logs[at];
        _logs.RemoveAt(at);
        var stale = _syncTokens.Where(kv => kv.Value.Equals(tp)).Select(kv => kv.Key).ToList();
        foreach (var token in stale) _syncTokens.Remove(token);
        log.DeleteAll();
        return true;
    }

    /// <summary>
    /// The input <c>OnSyncCompleted(token, status)</c>: hands the completion to its log, then lets that log start
    /// the next sync for writes that arrived meanwhile. Null for an unknown token (its log was deleted).
    /// </summary>
    public SyncCompletion? OnSyncCompleted(long token, DiskStatus status, long nowMs)
    {
        if (!_syncTokens.Remove(token, out var tp)) return null;
        if (GetLog(tp) is not { } log) return null;
        bool mine = log.OnSyncCompleted(token, status);
        Check.That(mine);
        log.MaybeStartSync(nowMs);
        return new SyncCompletion(tp, log, log.Failure, log.FlushedOffset, log.HighWatermark);
    }

    /// <summary>Starts a sync on every log that is due one (after appends, and at <see cref="NextDeadlineMs"/>).
    /// Returns how many were started.</summary>
    public int MaybeStartSyncs(long nowMs)
    {
        int started = 0;
        for (int i = 0; i < _logs.Count; i++)
            if (_logs[i].MaybeStartSync(nowMs)) started++;
        return started;
    }

    /// <summary>The earliest flush.ms deadline of any relaxed log; long.MaxValue when none.</summary>
    public long NextDeadlineMs
    {
        get
        {
            long next = long.MaxValue;
            for (int i = 0; i < _logs.Count; i++) next = Math.Min(next, _logs[i].NextDeadlineMs);
            return next;
        }
    }

    /// <summary>retention.ms / retention.bytes on every log; returns the number of segments deleted.</summary>
    public int ApplyRetention(long nowMs)
    {
        int deleted = 0;
        foreach (var log in _logs) deleted += log.ApplyRetention(nowMs);
        return deleted;
    }

    /// <summary>Shutdown: syncs every log, blocking.</summary>
    public void FlushAll()
    {
        foreach (var log in _logs) log.Flush();
    }

    public void Dispose()
    {
        foreach (var log in _logs) log.Dispose();
        _logs.Clear();
        _syncTokens.Clear();
    }
}
