using BenchmarkDotNet.Attributes;
using DetKafka.Bench.Infrastructure;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Protocol;
using DetKafka.Core.Storage;
using DetKafka.Host.Runtime;
using DetKafka.Sim;

namespace DetKafka.Bench.Micro;

public enum DiskKind { Sim, Memory, File }

/// <summary>
/// <see cref="UnifiedLog.Append"/> of one 16 KiB batch: validation, offset assignment, the write into the
/// disk's cache and the index entries. No sync (appends never wait for one; the produce path's syncs are in
/// <see cref="BrokerProduceBenchmarks"/>). Each iteration appends <see cref="AppendsPerIteration"/> batches to
/// a fresh log (32 MiB, below segment.bytes, so no roll), which keeps memory bounded and every iteration alike.
/// Sim is the simulator's disk (it copies each write to model crashes), Memory a disk that allocates nothing,
/// File the host's FileDisk in a temporary directory (the OS page cache).
/// </summary>
[MemoryDiagnoser]
[InvocationCount(AppendsPerIteration)]
// Iterations of a fixed 2,048 operations are short: warm up long enough for tiered compilation to reach
// its final code even on a loaded machine, whatever the job says (--job short included).
[WarmupCount(WarmUpIterations)]
public class LogAppendBenchmarks
{
    public const int AppendsPerIteration = 2048;
    public const int WarmUpIterations = 25;
    private const string Directory = "bench-0";

    private byte[] _batch = null!;
    private string? _tempRoot;
    private FileDisk? _fileDisk;
    private MemoryDisk? _memoryDisk;
    private IDisk _disk = null!;
    private UnifiedLog? _log;
    private long _nowMs = Payloads.BaseTimestampMs;

    [Params(DiskKind.Sim, DiskKind.Memory, DiskKind.File)]
    public DiskKind Disk { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _batch = Payloads.Batch16K();
        if (Disk == DiskKind.File)
        {
            _tempRoot = Path.Combine(Path.GetTempPath(), "detkafka-bench-" + Guid.NewGuid().ToString("N"));
            _fileDisk = new FileDisk(_tempRoot, (_, _) => { });
        }
        // One memory disk for the whole run: a deleted log's buffers serve the next one, so it allocates nothing.
        if (Disk == DiskKind.Memory) _memoryDisk = new MemoryDisk();
    }

    [IterationSetup]
    public void FreshLog()
    {
        _log?.Dispose();
        _disk = Disk switch
        {
            DiskKind.Sim => new SimDisk(),
            DiskKind.Memory => _memoryDisk!,
            _ => _fileDisk!,
        };
        if (_disk.DirectoryExists(Directory)) _disk.DeleteDirectory(Directory);
        _log = UnifiedLog.Open(_disk, Directory, new TopicPartition(Payloads.Topic, 0), LogConfig.Default,
            () => 1, NullBrokerLog.Instance, _nowMs);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _log?.Dispose();
        _fileDisk?.Dispose();
        if (_tempRoot is not null) System.IO.Directory.Delete(_tempRoot, recursive: true);
    }

    [Benchmark, Processes(Work.Batch16K)]
    public long Append()
    {
        var result = _log!.Append(_batch, ++_nowMs);
        if (result.Error != Core.Protocol.ErrorCode.None) throw new InvalidOperationException(result.ErrorMessage);
        return result.LastOffset;
    }
}
