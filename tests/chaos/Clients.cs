using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Xunit;

namespace DetKafka.Chaos;

public sealed record CommandResult(string CommandLine, int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed)
{
    public string[] StdoutLines =>
        Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Each stdout line that is a JSON object; the client scripts print one object per line.</summary>
    public List<JsonElement> JsonLines()
    {
        var list = new List<JsonElement>();
        foreach (string line in StdoutLines)
        {
            if (!line.StartsWith('{')) continue;
            using var doc = JsonDocument.Parse(line);
            list.Add(doc.RootElement.Clone());
        }
        return list;
    }

    public string Describe(int tailChars = 4000) =>
        $"`{CommandLine}` exited {ExitCode} after {Elapsed.TotalSeconds:F1}s\n--- stderr (tail) ---\n{Tail(Stderr, tailChars)}\n--- stdout (tail) ---\n{Tail(Stdout, tailChars)}";

    internal static string Tail(string s, int chars) => s.Length <= chars ? s : "..." + s[^chars..];
}

/// <summary>
/// Runs the real Kafka clients (kcat, and the Python scripts under clients/ with Debian's /usr/bin/python3, which
/// is where python3-kafka and python3-confluent-kafka install) as child processes. Every run has a timeout: a
/// client that hangs is killed and the test fails with what it printed, so the suite never hangs.
/// </summary>
public static class Clients
{
    /// <summary>Not the `python3` first on PATH: that may be another interpreter without the Kafka packages.</summary>
    public const string Python = "/usr/bin/python3";
    public const string Kcat = "kcat";

    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs a command to completion (or kills it at <paramref name="timeout"/> and fails the test).</summary>
    public static CommandResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null,
        string? stdin = null, IReadOnlyDictionary<string, string>? env = null)
    {
        TimeSpan limit = timeout ?? DefaultTimeout;
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
        // Unbuffered Python output, so a killed script still shows how far it got.
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        string commandLine = file + " " + string.Join(' ', psi.ArgumentList.Select(Quote));

        var sw = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        try
        {
            p.Start();
        }
        catch (Exception e)
        {
            Assert.Fail($"could not start `{commandLine}`: {e.Message} (are the real clients installed? ./test.sh installs them)");
            throw; // unreachable
        }

        Task<string> stdoutTask = p.StandardOutput.ReadToEndAsync();
        Task<string> stderrTask = p.StandardError.ReadToEndAsync();
        Task stdinTask = Task.Run(() =>
        {
            try
            {
                if (stdin != null) p.StandardInput.Write(stdin);
                p.StandardInput.Close();
            }
            catch (IOException)
            {
                // The child exited without reading all input; its exit code tells the story.
            }
        });

        bool exited = p.WaitForExit(limit);
        if (!exited)
        {
            KillTree(p);
            p.WaitForExit(5000);
        }
        else
        {
            p.WaitForExit(); // drains the async readers
        }
        string stdout = WaitText(stdoutTask);
        string stderr = WaitText(stderrTask);
        stdinTask.Wait(TimeSpan.FromSeconds(5));
        var result = new CommandResult(commandLine, exited ? p.ExitCode : -9, stdout, stderr, sw.Elapsed);
        if (!exited)
            Assert.Fail($"timed out after {limit.TotalSeconds:F0}s and was killed: {result.Describe()}");
        return result;
    }

    /// <summary>Runs and fails the test, showing stderr, if the command exits non-zero.</summary>
    public static CommandResult RunChecked(string file, IEnumerable<string> args, TimeSpan? timeout = null,
        string? stdin = null)
    {
        CommandResult r = Run(file, args, timeout, stdin);
        if (r.ExitCode != 0) Assert.Fail($"client failed: {r.Describe()}");
        return r;
    }

    public static CommandResult PythonScript(string script, IEnumerable<string> args, TimeSpan? timeout = null) =>
        RunChecked(Python, new[] { RepoPaths.ClientScript(script) }.Concat(args), timeout);

    public static CommandResult KcatRun(IEnumerable<string> args, TimeSpan? timeout = null, string? stdin = null) =>
        RunChecked(Kcat, args, timeout, stdin);

    /// <summary>Starts a long-running client (e.g. a streaming producer), collecting its output in memory. The caller
    /// owns the returned handle and must dispose it; disposing kills the process if it is still running.</summary>
    public static BackgroundCommand StartBackground(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        psi.Environment["PYTHONUNBUFFERED"] = "1";
        return new BackgroundCommand(psi);
    }

    internal static void KillTree(Process p)
    {
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    private static string WaitText(Task<string> t) => t.Wait(TimeSpan.FromSeconds(10)) ? t.Result : "<output not drained>";

    private static string Quote(string a) =>
        a.Length > 0 && a.All(c => char.IsLetterOrDigit(c) || "-_./:=,@%+".Contains(c)) ? a : "'" + a.Replace("'", "'\\''") + "'";
}

/// <summary>A child process kept running while the test does other things (kills the broker, say).</summary>
public sealed class BackgroundCommand : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly object _gate = new();

    internal BackgroundCommand(ProcessStartInfo psi)
    {
        _process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_gate) _stdout.AppendLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_gate) _stderr.AppendLine(e.Data); };
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;
    public bool HasExited => _process.HasExited;

    public string Stdout { get { lock (_gate) return _stdout.ToString(); } }
    public string Stderr { get { lock (_gate) return _stderr.ToString(); } }

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout)) return false;
        _process.WaitForExit();
        return true;
    }

    public int ExitCode => _process.ExitCode;

    public void Kill()
    {
        Clients.KillTree(_process);
        _process.WaitForExit(5000);
    }

    public string Describe() =>
        $"background pid {Pid} {(HasExited ? $"exited {ExitCode}" : "running")}\n--- stderr (tail) ---\n{CommandResult.Tail(Stderr, 4000)}\n--- stdout (tail) ---\n{CommandResult.Tail(Stdout, 2000)}";

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}

/// <summary>The built `detkafka` binary run as a CLI (not as a broker): its verbs against a live broker.</summary>
public static class DetKafkaCli
{
    /// <summary>Runs `detkafka ARGS` to completion (killed and failed at the timeout); the caller checks the exit code.</summary>
    public static CommandResult Run(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null) =>
        Clients.Run(BrokerProcess.DotnetHost(), new[] { RepoPaths.BrokerDll }.Concat(args), timeout ?? TimeSpan.FromSeconds(60), stdin);

    /// <summary>Runs and fails the test unless it exits 0.</summary>
    public static CommandResult RunChecked(IEnumerable<string> args, string? stdin = null, TimeSpan? timeout = null)
    {
        CommandResult r = Run(args, stdin, timeout);
        if (r.ExitCode != 0) Assert.Fail($"detkafka failed: {r.Describe()}");
        return r;
    }

    /// <summary>Runs with --format json and parses stdout as one JSON document.</summary>
    public static JsonElement Json(IEnumerable<string> args, string? stdin = null)
    {
        CommandResult r = RunChecked(args.Concat(["--format", "json"]), stdin);
        try
        {
            using var doc = JsonDocument.Parse(r.Stdout);
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            Assert.Fail($"not one JSON document ({e.Message}): {r.Describe()}");
            throw; // unreachable
        }
    }
}
