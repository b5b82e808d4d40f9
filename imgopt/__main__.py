from imgopt.entry import main

main()
