using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Xunit;

namespace DetKafka.Chaos;

/// <summary>
/// The real `detkafka serve` binary as a child process on a free loopback port with its own temporary data
/// directory. It can be killed with SIGKILL (<see cref="Kill9"/>), restarted on the same data directory
/// (<see cref="Restart"/>), or stopped with SIGTERM (<see cref="StopGracefully"/>). Its stdout and stderr go to
/// one log file per broker (kept under the test output's broker-logs/ for diagnosis); the data directory is
/// deleted on dispose.
/// </summary>
public sealed class BrokerProcess : IDisposable
{
    public static readonly TimeSpan ReadyTimeout = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(20);

    private readonly object _logGate = new();
    private readonly StreamWriter _log;
    private readonly int? _numPartitions;
    private readonly string[] _extraArgs;
    private Process? _process;
    private int _starts;
    // "DetKafka listening on" lines the broker printed, over all its starts: a start is ready when its own line came.
    private int _listeningLines;
    private bool _disposed;

    public string DataDir { get; }
    public string LogPath { get; }
    public int Port { get; private set; }
    public string Bootstrap => $"127.0.0.1:{Port}";
    public int Pid => _process?.Id ?? -1;
    public bool IsAlive => _process is { HasExited: false };

    // Brokers still running when the test host exits (a test that never disposed, a runner shutting down) are
    // killed, so no orphan keeps a port or a data directory.
    private static readonly HashSet<BrokerProcess> Live = [];

    static BrokerProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            BrokerProcess[] left;
            lock (Live) left = [.. Live];
            foreach (BrokerProcess b in left) b.Dispose();
        };
    }

    private IReadOnlyDictionary<string, string>? _environment;

    private BrokerProcess(string name, int? numPartitions, string[] extraArgs)
    {
        lock (Live) Live.Add(this);
        _numPartitions = numPartitions;
        _extraArgs = extraArgs;
        DataDir = Directory.CreateTempSubdirectory("detkafka-chaos-").FullName;
        LogPath = Path.Combine(RepoPaths.BrokerLogDir, $"{name}-{DateTime.UtcNow:yyyyMMdd-HHmmss-fff}-{Environment.ProcessId}.log");
        _log = new StreamWriter(LogPath, append: true) { AutoFlush = true };
        Port = FreeLoopbackPort();
    }

    /// <summary>Starts <paramref name="nodes"/> brokers as one metadata quorum (`--node-id i --controller-quorum
    /// 1@127.0.0.1:p1,...`, each voter reached at its client listener), each ready once its port accepts. The quorum
    /// elects its controller after that: callers wait for it.</summary>
    public static BrokerProcess[] StartQuorum(string name, int nodes, IReadOnlyDictionary<string, string>? environment = null)
    {
        int[] ports = new int[nodes];
        for (int i = 0; i < nodes; i++)
        {
            int p;
            do p = FreeLoopbackPort(); while (ports.Contains(p));
            ports[i] = p;
        }
        string voters = string.Join(',', ports.Select((p, i) => $"{i + 1}@127.0.0.1:{p}"));
        var brokers = new List<BrokerProcess>();
        try
        {
            for (int i = 0; i < nodes; i++)
            {
                string id = (i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
                brokers.Add(new BrokerProcess($"{name}-{id}", null, ["--node-id", id, "--controller-quorum", voters]) { Port = ports[i], _environment = environment });
            }
            foreach (var b in brokers) b.Launch();
            return [.. brokers];
        }
        catch
        {
            foreach (var b in brokers) b.Dispose();
            throw;
        }
    }

    /// <summary>Starts a broker and waits until its port accepts connections. Its metrics endpoint is off unless
    /// <paramref name="extraArgs"/> sets --metrics-listener (brokers run side by side; 9644 would clash).</summary>
    /// <param name="environment">Extra environment for the broker (DETKAFKA_* settings).</param>
    public static BrokerProcess Start(string name = "broker", int? numPartitions = null, string[]? extraArgs = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var broker = new BrokerProcess(name, numPartitions, extraArgs ?? []) { _environment = environment };
        try
        {
            broker.Launch();
            return broker;
        }
        catch
        {
            broker.Dispose();
            throw;
        }
    }

    /// <summary>SIGKILL (Process.Kill sends it on Linux): no shutdown hook runs, unsynced writes are lost.</summary>
    public void Kill9()
    {
        Process p = _process ?? throw new InvalidOperationException("broker was never started");
        Assert.False(p.HasExited, $"broker died before it was killed:\n{LogTail()}");
        p.Kill(entireProcessTree: false);
        Assert.True(p.WaitForExit(10_000), "broker survived SIGKILL for 10 s");
        p.WaitForExit();
        WriteLog($"=== SIGKILL sent; exit code {p.ExitCode} ===");
    }

    /// <summary>SIGTERM and wait for a clean exit; returns the exit code. Fails the test if it does not stop.</summary>
    public int StopGracefully()
    {
        Process p = _process ?? throw new InvalidOperationException("broker was never started");
        Assert.False(p.HasExited, $"broker died before it was stopped:\n{LogTail()}");
        // libc kill(2) rather than the `kill` binary, which a minimal Debian image may lack (procps).
        if (NativeMethods.kill(p.Id, NativeMethods.SIGTERM) != 0)
            Assert.Fail($"kill({p.Id}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        if (!p.WaitForExit(StopTimeout))
        {
            p.Kill();
            p.WaitForExit(5000);
            Assert.Fail($"broker ignored SIGTERM for {StopTimeout.TotalSeconds:F0}s and was killed:\n{LogTail()}");
        }
        p.WaitForExit();
        WriteLog($"=== SIGTERM; exit code {p.ExitCode} ===");
        return p.ExitCode;
    }

    /// <summary>Starts the broker again on the same data directory after <see cref="Kill9"/> or
    /// <see cref="StopGracefully"/>. It keeps its port when the port can be bound again; if not (a socket of the
    /// dead process lingering), it moves to a fresh one, so callers must re-read <see cref="Bootstrap"/>.</summary>
    public void Restart()
    {
        Assert.False(IsAlive, "Restart() needs the broker stopped or killed first");
        _process?.Dispose();
        _process = null;
        Launch();
    }

    public void AssertAlive(string when)
    {
        Assert.True(IsAlive, $"broker process is not alive {when}:\n{LogTail()}");
    }

    /// <summary>Waits up to <paramref name="timeout"/> for <paramref name="needle"/> in the broker's log. The broker's
    /// output reaches the log file through this process's asynchronous pipe reader, a few hundred milliseconds after
    /// the broker printed it on a busy machine, so a line the broker already logged may not be in the file yet.</summary>
    public bool WaitForLog(string needle, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (LogTail(int.MaxValue).Contains(needle, StringComparison.Ordinal)) return true;
            if (DateTime.UtcNow >= deadline) return false;
            Thread.Sleep(100);
        }
    }

    public string LogTail(int chars = 6000)
    {
        lock (_logGate)
        {
            _log.Flush();
            try
            {
                using var fs = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(fs);
                string all = reader.ReadToEnd();
                return $"--- broker log {LogPath} (tail) ---\n" + CommandResult.Tail(all, chars);
            }
            catch (IOException e)
            {
                return $"<broker log {LogPath} unreadable: {e.Message}>";
            }
        }
    }

    private void Launch()
    {
        // A port freed by a killed process can stay unbindable for a while; one retry on a fresh port.
        for (int attempt = 0; ; attempt++)
        {
            LaunchResult r = TryLaunch();
            if (r == LaunchResult.Ready) return;
            if (r == LaunchResult.ExitedEarly && attempt == 0 && _starts > 1)
            {
                Port = FreeLoopbackPort();
                WriteLog($"=== broker exited before listening; retrying on fresh port {Port} ===");
                continue;
            }
            Assert.Fail(r == LaunchResult.ExitedEarly
                ? $"broker exited (code {_process?.ExitCode}) before listening on {Bootstrap}:\n{LogTail()}"
                : $"broker did not accept connections on {Bootstrap} within {ReadyTimeout.TotalSeconds:F0}s:\n{LogTail()}");
        }
    }

    private enum LaunchResult { Ready, ExitedEarly, TimedOut }

    private LaunchResult TryLaunch()
    {
        _starts++;
        var psi = new ProcessStartInfo(DotnetHost())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = DataDir,
        };
        psi.ArgumentList.Add(RepoPaths.BrokerDll);
        psi.ArgumentList.Add("serve");
        if (_environment is not null)
            foreach (var (key, value) in _environment) psi.Environment[key] = value;
        psi.ArgumentList.Add("--listeners");
        psi.ArgumentList.Add($"PLAINTEXT://127.0.0.1:{Port}");
        psi.ArgumentList.Add("--data-dir");
        psi.ArgumentList.Add(DataDir);
        if (!_extraArgs.Contains("--metrics-listener"))
        {
            psi.ArgumentList.Add("--metrics-listener");
            psi.ArgumentList.Add("off");
        }
        foreach (var a in _extraArgs) psi.ArgumentList.Add(a);
        if (_numPartitions is int n)
        {
            psi.ArgumentList.Add("--num-partitions");
            psi.ArgumentList.Add(n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var p = new Process { StartInfo = psi, EnableRaisingEvents = true };
        p.OutputDataReceived += (_, e) =>
        {
            if (e.Data == null) return;
            if (e.Data.Contains("DetKafka listening on", StringComparison.Ordinal)) Interlocked.Increment(ref _listeningLines);
            WriteLog("[out] " + e.Data);
        };
        int listeningBefore = Volatile.Read(ref _listeningLines);
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) WriteLog("[err] " + e.Data); };
        WriteLog($"=== start #{_starts}: {psi.FileName} {string.Join(' ', psi.ArgumentList)} ===");
        p.Start();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        _process = p;
        WriteLog($"=== pid {p.Id} ===");

        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < ReadyTimeout)
        {
            if (p.HasExited)
            {
                p.WaitForExit(); // drain the output readers into the log
                return LaunchResult.ExitedEarly;
            }
            // Both: a port that accepts may belong to another process on a shared machine (the broker has not bound
            // it yet), and the log line alone may come before the socket is ready for a client.
            if (Volatile.Read(ref _listeningLines) > listeningBefore && Accepts(Port)) return LaunchResult.Ready;
            Thread.Sleep(100);
        }
        p.Kill();
        p.WaitForExit(5000);
        return LaunchResult.TimedOut;
    }

    private static bool Accepts(int port)
    {
        using var c = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            IAsyncResult ar = c.BeginConnect(IPAddress.Loopback, port, null, null);
            if (!ar.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(1))) return false;
            c.EndConnect(ar);
            return c.Connected;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public static int FreeLoopbackPort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    internal static string DotnetHost()
    {
        // The SDK exports the host it runs under; fall back to `dotnet` on PATH.
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        if (!string.IsNullOrEmpty(root) && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        return "dotnet";
    }

    private void WriteLog(string line)
    {
        lock (_logGate)
        {
            if (_disposed) return;
            _log.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {line}");
        }
    }

    public void Dispose()
    {
        lock (Live) Live.Remove(this);
        if (_process is { } p)
        {
            try
            {
                if (!p.HasExited)
                {
                    p.Kill();
                    p.WaitForExit(10_000);
                }
            }
            catch (InvalidOperationException)
            {
                // Never started or already reaped.
            }
            p.Dispose();
            _process = null;
        }
        lock (_logGate)
        {
            _disposed = true;
            _log.Dispose();
        }
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp dir left behind must not fail the run.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}

internal static partial class NativeMethods
{
    public const int SIGTERM = 15;

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054 // LibraryImport needs unsafe blocks, which the build disallows
    public static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054
}

/// <summary>One broker (default configuration) shared by a test class.</summary>
public sealed class BrokerFixture : IDisposable
{
    public BrokerProcess Broker { get; } = BrokerProcess.Start("shared");
    public void Dispose() => Broker.Dispose();
}

/// <summary>One broker whose auto-created topics get three partitions, shared by a test class.</summary>
public sealed class ThreePartitionBrokerFixture : IDisposable
{
    public BrokerProcess Broker { get; } = BrokerProcess.Start("three-partitions", numPartitions: 3);
    public void Dispose() => Broker.Dispose();
}
