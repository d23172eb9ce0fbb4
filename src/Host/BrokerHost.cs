using System.Net;
using System.Security.Cryptography;
using DetKafka.Core.Abstractions;
using DetKafka.Core.Broker;
using DetKafka.Host.Configuration;
using DetKafka.Host.Runtime;

namespace DetKafka.Host;

/// <summary>
/// A running broker: the data directory on a <see cref="FileDisk"/>, the listener on a
/// <see cref="SocketNetwork"/>, and the <see cref="BrokerNode"/> on its driver thread. Used by
/// <c>detkafka serve</c> and, in-process, by tests.
/// </summary>
public sealed class MetricsListenerException(string message, Exception inner) : Exception(message, inner);

public sealed class BrokerHost : IDisposable
{
    /// <summary>How long a stop waits for in-flight work (pending syncs, queued inputs) before shutting down anyway.</summary>
    public static readonly TimeSpan DefaultDrainTimeout = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan ResponseFlushTimeout = TimeSpan.FromSeconds(2);

    private readonly BrokerDriver _driver;
    private readonly IHostNetwork _network;
    private readonly FileDisk _disk;
    private readonly Serilog.ILogger _log;
    private readonly DataDirectoryLock _lock;
    private MetricsEndpoint? _metricServer;

    private BrokerHost(ServerSettings settings, BrokerDriver driver, IHostNetwork network, FileDisk disk, Serilog.ILogger log,
        DataDirectoryLock dataLock, BrokerMetrics? metrics)
    {
        Settings = settings;
        _driver = driver;
        _network = network;
        _disk = disk;
        _log = log;
        _lock = dataLock;
        Metrics = metrics;
        LocalEndPoint = network.LocalEndPoint;
    }

    /// <summary>The broker's metrics; null when the metrics listener is off.</summary>
    public BrokerMetrics? Metrics { get; }

    public ServerSettings Settings { get; }

    /// <summary>The bound listener address.</summary>
    public IPEndPoint LocalEndPoint { get; }

    /// <summary>The bound port (the ephemeral one when the listener asked for port 0).</summary>
    public int Port => LocalEndPoint.Port;

    /// <summary>The data directory's absolute path.</summary>
    public string DataDirectory => _disk.Root;

    /// <summary>Completes once the broker has stopped and released its socket and files; faults if the node
    /// failed while running.</summary>
    public Task Completion => _driver.Completion;

    /// <summary>Bind, recover the data directory and start serving. Throws if the listener cannot be bound
    /// (<see cref="System.Net.Sockets.SocketException"/>), the data directory is unusable
    /// (<see cref="IOException"/>, <see cref="UnauthorizedAccessException"/>) or recovery fails.</summary>
    public static BrokerHost Start(ServerSettings settings, Serilog.ILogger? logger = null, TimeSpan? drainTimeout = null)
        => Start(settings, logger, drainTimeout, new SocketNetworkLimits());

    /// <summary>As <see cref="Start(ServerSettings, Serilog.ILogger?, TimeSpan?)"/> with socket-layer bounds (tests shrink them).</summary>
    internal static BrokerHost Start(ServerSettings settings, Serilog.ILogger? logger, TimeSpan? drainTimeout, SocketNetworkLimits limits)
    {
        EnsureThreadPoolHeadroom();
        var log = logger ?? Serilog.Log.Logger;
        var clock = new RealClock();
        // Before anything touches the directory: a second broker on it must not start.
        var dataLock = DataDirectoryLock.Acquire(settings.DataDirectory);
        var driver = new BrokerDriver(clock, log);
        var metrics = settings.MetricsListener is null ? null : new BrokerMetrics();
        bool eventLoop = settings.IoModel != "threads" && EventLoopNetwork.Supported;
        var disk = new FileDisk(settings.DataDirectory,
            (token, status) => driver.Post(new DriverInput(InputKind.SyncCompleted, Token: token, Status: status)),
            writeBehind: eventLoop && settings.IoModel == "loop-write-behind");
        if (metrics is not null) disk.SyncTimed = metrics.ObserveFlush;
        // io.model=loop: the event loop where ppoll and eventfd exist (Linux); otherwise the thread-per-connection
        // network (PERFORMANCE.md, "The host's I/O path").
        IHostNetwork network;
        if (eventLoop)
        {
            var loop = new EventLoopNetwork(settings.Listener, driver, log, limits);
            driver.UseEventLoop(loop);
            network = loop;
        }
        else
        {
            network = new SocketNetwork(settings.Listener, driver, log, limits);
        }
        try
        {
            network.Bind();
        }
        catch
        {
            (network as IDisposable)?.Dispose();
            disk.Dispose();
            dataLock.Dispose();
            throw;
        }

        var host = new BrokerHost(settings, driver, network, disk, log, dataLock, metrics);
        var config = settings.ToBrokerConfig(host.Port);
        var random = new SeededRandom(BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8)));
        var brokerLog = new SerilogBrokerLog(log);
        var drain = new BrokerDriver.DrainPolicy(
            HasPendingWork: () => disk.PendingSyncs > 0,
            OnStopRequested: () =>
            {
                network.StopAccepting();
                network.StopReading();
            },
            Timeout: drainTimeout ?? DefaultDrainTimeout);

        var observer = new HostObserver(metrics, log);
        try
        {
            driver.Start(() => new BrokerNode(config, clock, disk, network, random, brokerLog) { Observer = observer }, drain, host.Teardown);
        }
        catch
        {
            // Teardown ran on the driver thread (sockets and files closed); release the lock too.
            dataLock.Dispose();
            throw;
        }
        if (metrics is not null)
        {
            metrics.Snapshot = host.Snapshot;
            metrics.ConnectionsAccepted = () => network.ConnectionsAccepted;
            try
            {
                host._metricServer = MetricsEndpoint.Start(settings.MetricsListener!.Host, settings.MetricsListener.Port, metrics.Registry);
            }
            catch (System.Net.Sockets.SocketException e)
            {
                host.Stop();
                throw new MetricsListenerException($"cannot serve metrics on {settings.MetricsListener!.HostPort}: {e.Message}", e);
            }
            log.Information("Metrics on http://{MetricsListener}/metrics", settings.MetricsListener.HostPort);
        }
        network.StartAccepting();
        log.Information("DetKafka listening on {Listener}, data in {DataDirectory}",
            FormatEndPoint(host.LocalEndPoint), settings.DataDirectory);
        if (config.AdvertisedHost != host.LocalEndPoint.Address.ToString() || config.AdvertisedPort != host.Port)
            log.Information("Advertising {AdvertisedHost}:{AdvertisedPort} to clients", config.AdvertisedHost, config.AdvertisedPort);
        return host;
    }

    /// <summary>The socket loops run on the thread pool. A process embedding the host that blocks pool threads
    /// (tests with synchronous clients) would otherwise stall them for the pool's thread-injection delay
    /// (about half a second per thread), so keep a few threads ready beyond what blocking callers take.</summary>
    private static void EnsureThreadPoolHeadroom()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        int wanted = Math.Max(8, 2 * Environment.ProcessorCount);
        if (workers < wanted) ThreadPool.SetMinThreads(wanted, completionPorts);
    }

    private static string FormatEndPoint(IPEndPoint endPoint)
        => endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port).ToString() : endPoint.ToString();

    /// <summary>Ask the broker to stop; returns at once. Safe from any thread, including signal handlers.</summary>
    public void RequestStop() => _driver.Post(new DriverInput(InputKind.Stop));

    /// <summary>Stop and wait: accepting and reading stop, in-flight work drains (bounded), the node shuts
    /// down, responses are flushed and sockets and files closed. Returns false if it did not finish within
    /// <paramref name="timeout"/>. Rethrows the node's failure, if it failed.</summary>
    public bool Stop(TimeSpan? timeout = null)
    {
        RequestStop();
        var limit = timeout ?? DefaultDrainTimeout + ResponseFlushTimeout + TimeSpan.FromSeconds(5);
        if (!Completion.Wait(limit)) return false;
        return true;
    }

    /// <summary>Run <paramref name="action"/> on the driver thread with the node (tests, diagnostics).</summary>
    public Task<T> InvokeAsync<T>(Func<BrokerNode, T> action)
    {
        var result = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        _driver.Post(new DriverInput(InputKind.Invoke, Action: node =>
        {
            try
            {
                result.TrySetResult(action(node));
            }
            catch (Exception e)
            {
                result.TrySetException(e);
            }
        }));
        // A stopped driver never runs it.
        Completion.ContinueWith(_ => result.TrySetCanceled(), TaskScheduler.Default);
        return result.Task;
    }

    public void Dispose()
    {
        try
        {
            Stop();
        }
        catch (AggregateException)
        {
            // the failure was logged by the driver and is on Completion
        }
    }

    /// <summary>What a metrics scrape shows of the node, read on the driver thread; null if the driver does not
    /// answer within a second (stopping, or stuck: the scrape shows the last values).</summary>
    private BrokerSnapshot? Snapshot()
    {
        var task = InvokeAsync(node =>
        {
            var partitions = new List<PartitionSnapshot>();
            foreach (var topic in node.Topics)
                for (int p = 0; p < topic.PartitionCount; p++)
                    if (node.FindLog(topic.Name, p) is { } log)
                        partitions.Add(new PartitionSnapshot(topic.Name, p, log.LogStartOffset, log.LogEndOffset, log.HighWatermark, log.Size));
            var lags = new List<GroupOffsetSnapshot>();
            foreach (var group in node.Groups.Groups)
                foreach (var (tp, committed) in group.Offsets)
                    if (node.FindLog(tp.Topic, tp.Partition) is { } log && committed.Offset >= 0)
                        lags.Add(new GroupOffsetSnapshot(group.Id, tp.Topic, tp.Partition, committed.Offset,
                            Math.Max(0, log.HighWatermark - committed.Offset)));
            return new BrokerSnapshot(partitions, node.ConnectionCount, node.Topics.Count, lags);
        });
        try
        {
            return task.Wait(TimeSpan.FromSeconds(1)) ? task.Result : null;
        }
        catch (AggregateException)
        {
            return null;
        }
    }

    /// <summary>Runs on the driver thread after <see cref="BrokerNode.Shutdown"/> (or a failure).</summary>
    private void Teardown()
    {
        _metricServer?.Dispose();
        _network.CloseAll(ResponseFlushTimeout);
        _disk.Dispose();
        _lock.Dispose();
        _log.Information("DetKafka stopped");
    }
}
