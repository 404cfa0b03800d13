from apistarter.cli import main

main()
