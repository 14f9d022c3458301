from augcli.cli import main

main()
