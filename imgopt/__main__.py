from imgopt.cli import main

main()
