using System.CommandLine;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka completion bash</c>: a shell completion script. System.CommandLine answers completion
/// queries itself (the <c>[suggest:POSITION]</c> directive), so the script only hands it the line being typed.</summary>
public static class CompletionCommand
{
    public const string BashScript = """
        # detkafka bash completion: eval "$(detkafka completion bash)"  (zsh: autoload bashcompinit && bashcompinit first)
        _detkafka_complete() {
            local IFS=$'\n'
            COMPREPLY=( $(command "${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) )
        }
        complete -o default -F _detkafka_complete detkafka
        """;

    public static Command Create()
    {
        var completion = new Command("completion", "Print a shell completion script: eval \"$(detkafka completion bash)\".");
        var shell = new Argument<string>("shell") { Description = "bash (zsh through bashcompinit)" };
        shell.AcceptOnlyFromAmong("bash", "zsh");
        completion.Arguments.Add(shell);
        completion.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.WriteLine(BashScript);
            return 0;
        });
        return completion;
    }
}
